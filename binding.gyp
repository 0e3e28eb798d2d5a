# Not the build. mcpc's native addon is built by CMakeLists.txt through cmake-js
# (package.json scripts.install: "cmake-js compile"). This stub exists only so that node-gyp,
# which npm runs when it sees a binding.gyp and no install script, has nothing to build.
{
  "targets": []
}
