# cmake -DOUTPUT=file.inc -DINPUTS="a.mlir;b.mlir" -P EmbedTextFiles.cmake
# Writes {"a", R"moec(<text of a.mlir>)moec"}, ... for each input.
set(content "// Generated from lib/Conversion/Kernels by EmbedTextFiles.cmake.\n")
foreach(input IN LISTS INPUTS)
  get_filename_component(name "${input}" NAME_WE)
  file(READ "${input}" text)
  string(APPEND content "{\"${name}\", R\"moec(${text})moec\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "${content}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUTPUT}.tmp" "${OUTPUT}")
