# Times the ONNX Runtime (MLAS) CPU kernels for the shapes of `ops_test bench`: ResNet-50 convolutions
# and BERT-base projections, batch 1. Usage: python3 native/tests/ort_bench.py [threads]
import numpy as np, onnx, onnxruntime as ort, time, sys
from onnx import helper, TensorProto, numpy_helper
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
convs = [(3,64,7,2,3,224),(64,64,1,1,0,56),(64,64,3,1,1,56),(64,256,1,1,0,56),(256,64,1,1,0,56),(256,128,1,1,0,56),(128,128,3,2,1,56),
         (128,512,1,1,0,28),(512,128,1,1,0,28),(128,128,3,1,1,28),(256,512,1,2,0,56),(256,256,3,1,1,14),(1024,256,1,1,0,14),(256,1024,1,1,0,14),
         (512,512,3,1,1,7),(2048,512,1,1,0,7),(512,2048,1,1,0,7)]
def bench(model, feeds):
    so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
    s = ort.InferenceSession(model.SerializeToString(), so, providers=['CPUExecutionProvider'])
    for _ in range(3): s.run(None, feeds)
    best = 1e9
    for r in range(5):
        t = time.perf_counter(); n = 10
        for _ in range(n): s.run(None, feeds)
        best = min(best, (time.perf_counter() - t) / n)
    return best
for (ci, co, k, st, p, hw) in convs:
    W = numpy_helper.from_array(np.random.rand(co, ci, k, k).astype(np.float32), 'W')
    B = numpy_helper.from_array(np.random.rand(co).astype(np.float32), 'B')
    node = helper.make_node('Conv', ['X', 'W', 'B'], ['Y'], kernel_shape=[k, k], strides=[st, st], pads=[p]*4)
    g = helper.make_graph([node], 'g', [helper.make_tensor_value_info('X', TensorProto.FLOAT, [1, ci, hw, hw])],
                          [helper.make_tensor_value_info('Y', TensorProto.FLOAT, None)], [W, B])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)], ir_version=9)
    t = bench(m, {'X': np.random.rand(1, ci, hw, hw).astype(np.float32)})
    oh = (hw + 2*p - k)//st + 1
    fl = 2.0*co*ci*k*k*oh*oh
    print(f"conv {ci:4d}->{co:4d} k{k} s{st} {hw:3d}: ort {t*1e3:7.3f} ms {fl/t*1e-9:6.1f} GFLOP/s")
for (M, K, N) in [(128, 768, 768), (128, 768, 3072), (128, 3072, 768)]:
    W = numpy_helper.from_array(np.random.rand(K, N).astype(np.float32), 'W')
    node = helper.make_node('MatMul', ['X', 'W'], ['Y'])
    g = helper.make_graph([node], 'g', [helper.make_tensor_value_info('X', TensorProto.FLOAT, [1, M, K])],
                          [helper.make_tensor_value_info('Y', TensorProto.FLOAT, None)], [W])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)], ir_version=9)
    t = bench(m, {'X': np.random.rand(1, M, K).astype(np.float32)})
    print(f"matmul {M}x{K}x{N}: ort {t*1e3:7.3f} ms {2.0*M*N*K/t*1e-9:6.1f} GFLOP/s")
