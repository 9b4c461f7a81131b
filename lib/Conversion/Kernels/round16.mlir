// A snippet, not a kernel: `//#include round16 IN=%x OUT=%v` inside a
// kernel's loop defines %v (i16) as the f32 %x rounded to nearest even as
// bf16 bits with flag TO_BF16 (a NaN becomes the quiet NaN 0x7FC0), or as f16
// bits with TO_F16: a 16-bit GEMM's A operand. Its other values are named
// ${OUT}_*. Used by elementwise (TO_BF16 / TO_F16) and glu (ROUND16).
//#if TO_BF16
      ${OUT}_bits = arith.bitcast ${IN} : f32 to i32
      ${OUT}_one = arith.constant 1 : i32
      ${OUT}_c16 = arith.constant 16 : i32
      ${OUT}_bias = arith.constant 32767 : i32
      ${OUT}_qnan = arith.constant 32704 : i16
      ${OUT}_hi = arith.shrui ${OUT}_bits, ${OUT}_c16 : i32
      ${OUT}_odd = arith.andi ${OUT}_hi, ${OUT}_one : i32
      ${OUT}_inc = arith.addi ${OUT}_bias, ${OUT}_odd : i32
      ${OUT}_sum = arith.addi ${OUT}_bits, ${OUT}_inc : i32
      ${OUT}_top = arith.shrui ${OUT}_sum, ${OUT}_c16 : i32
      ${OUT}_rounded = arith.trunci ${OUT}_top : i32 to i16
      ${OUT}_nan = arith.cmpf uno, ${IN}, ${IN} : f32
      ${OUT} = arith.select ${OUT}_nan, ${OUT}_qnan, ${OUT}_rounded : i16
//#endif
//#if TO_F16
      ${OUT}_h = arith.truncf ${IN} : f32 to f16
      ${OUT} = arith.bitcast ${OUT}_h : f16 to i16
//#endif
