// A weight in panels in a module for cuda (export-artifact.mlir: an error).
module attributes {exec.target = "cuda"} {
  func.func @f() attributes {exec.max_tokens = 4 : i64, exec.arena_bytes = 704 : i64} {
    %x = exec.input "x" offset(0) bytes([12, 0]) : <?x3xf32>
    %w = exec.weight "w" random(1) panels : <40x3xf32>
    %y = exec.alloc offset(64) bytes([160, 0]) : <?x40xf32>
    exec.gemm %x, %w -> %y rows([1, 0]) n(40) k(3) : <?x3xf32>, <40x3xf32> -> <?x40xf32>
    exec.output "y", %y : <?x40xf32>
    return
  }
}
