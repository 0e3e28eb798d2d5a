// The layering ARCHITECTURE.md draws, checked on the import graph (ts-morph): compiler/ never
// imports runtime/ or cli/; runtime/ imports from compiler/ only the artifact format; compiler/ir
// imports no pass; the CLI is the only place that uses both sides.

import { join, relative } from 'node:path';
import { Project } from 'ts-morph';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

function importEdges(): [string, string][] {
  const project = new Project({ tsConfigFilePath: join(ROOT, 'tsconfig.json'), skipAddingFilesFromTsConfig: true });
  project.addSourceFilesAtPaths([join(ROOT, 'compiler/**/*.ts'), join(ROOT, 'runtime/**/*.ts'), join(ROOT, 'cli/**/*.ts')]);
  const edges: [string, string][] = [];
  for (const file of project.getSourceFiles()) {
    const from = relative(ROOT, file.getFilePath());
    for (const decl of [...file.getImportDeclarations(), ...file.getExportDeclarations()]) {
      const target = decl.getModuleSpecifierSourceFile();
      if (target) edges.push([from, relative(ROOT, target.getFilePath())]);
    }
  }
  return edges;
}

describe('module boundaries', () => {
  const edges = importEdges();
  const violations = (rule: (from: string, to: string) => boolean) => edges.filter(([f, t]) => rule(f, t)).map(([f, t]) => `${f} -> ${t}`);

  it('finds the import graph', () => {
    expect(edges.length).toBeGreaterThan(50);
  });
  it('keeps the compiler free of the runtime and the CLI', () => {
    expect(violations((f, t) => f.startsWith('compiler/') && (t.startsWith('runtime/') || t.startsWith('cli/')))).toEqual([]);
  });
  it('lets the runtime import only the artifact format from the compiler', () => {
    expect(violations((f, t) => f.startsWith('runtime/') && t.startsWith('compiler/') && t !== 'compiler/artifact/format.ts')).toEqual([]);
  });
  it('keeps the IR free of passes', () => {
    expect(violations((f, t) => f.startsWith('compiler/ir/') && t.startsWith('compiler/passes/'))).toEqual([]);
  });
});
