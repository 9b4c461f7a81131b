//===- KernelLibraryTest.cpp - every generic kernel, every variant --------===//
//
// Each generic kernel is specialized under every combination of its flags the
// compiler can produce; each result must parse, verify and lower to the LLVM
// dialect. The e2e tests check the numbers of the variants they reach; this
// checks that no branch of a kernel is broken.
//
//===----------------------------------------------------------------------===//
#include "moec/Conversion/KernelLibrary.h"
#include "moec/Target/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Verifier.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace moec;

namespace {

class KernelLibraryTest : public ::testing::Test {
protected:
  KernelLibraryTest() {
    context.loadDialect<exec::ExecDialect, gpu::GPUDialect, func::FuncDialect,
                        arith::ArithDialect,
                        math::MathDialect, memref::MemRefDialect,
                        scf::SCFDialect, LLVM::LLVMDialect>();
  }

  /// A specialization of a generic kernel (Kernels/*.mlir) with these
  /// index parameters.
  KernelSpecialization generic(const std::string &name,
                               std::initializer_list<std::pair<const char *, int64_t>> ints) {
    KernelSpecialization s{name};
    for (auto [k, v] : ints)
      s.set(k, v);
    return s;
  }

  /// Instantiates, verifies and lowers `s`; returns the failure, or "".
  std::string check(const KernelSpecialization &s) {
    OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&context));
    KernelLibrary library(*module);
    std::string diagnostics;
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return success();
    });
    if (failed(library.get(s, UnknownLoc::get(&context))))
      return "instantiation failed: " + diagnostics;
    if (failed(verify(*module)))
      return "verification failed: " + diagnostics;
    PassManager pm(&context, ModuleOp::getOperationName());
    buildKernelToLLVMPipeline(pm);
    if (failed(pm.run(*module)))
      return "lowering failed: " + diagnostics;
    return "";
  }

  MLIRContext context;
};

std::string describe(const KernelSpecialization &s) {
  std::string d = s.kernel;
  for (const std::string &f : s.flags)
    d += " " + f;
  return d;
}

TEST_F(KernelLibraryTest, RouteEveryVariant) {
  int checked = 0;
  for (const char *scoring : {"SOFTMAX", "SIGMOID", "NONE"})
    for (bool bias : {false, true})
      for (int groups : {0, 1, 2}) // none, top2_sum, max
        for (bool renorm : {false, true})
          for (bool after : {false, true})
            for (bool scaled : {false, true}) {
              KernelSpecialization s = generic(
                  "route", {{"E", 12}, {"K", 3}, {"MT", 16}, {"NG", 4}, {"GS", 3}, {"TG", 2}});
              s.setF32("EPS", 1e-20).setF32("SCALE", 2.5);
              s.flag(scoring).flag("HAS_BIAS", bias).flag("GROUPED", groups > 0);
              s.flag("TOP2", groups == 1).flag("RENORM", renorm);
              s.flag("SOFTMAX_AFTER", after).flag("SCALED", scaled);
              EXPECT_EQ(check(s), "") << describe(s);
              ++checked;
            }
  EXPECT_EQ(checked, 144);
}

TEST_F(KernelLibraryTest, DispatchEveryCapacityMode) {
  struct Mode { bool capacity, fixed, reroute; };
  for (Mode m : {Mode{false, false, false}, Mode{true, false, false},
                 Mode{true, true, false}, Mode{true, false, true},
                 Mode{true, true, true}}) {
    KernelSpecialization s = generic("dispatch", {{"E", 12}, {"K", 3}, {"MT", 16}, {"RMAX", 60},
                                        {"RPT", 3}, {"RFIX", 12}, {"BLOCK", 1},
                                        {"CAPT", 4}});
    s.setF64("CAPF", 1.25);
    s.flag("CAPACITY", m.capacity).flag("FIXED_CAP", m.fixed);
    s.flag("REROUTE", m.reroute);
    EXPECT_EQ(check(s), "") << describe(s);
  }
  EXPECT_EQ(check(generic("dispatch_chunked_count",
                          {{"E", 12}, {"K", 3}, {"MT", 16}, {"NC", 4}, {"CH", 4}})),
            "");
  EXPECT_EQ(check(generic("dispatch_chunked_scan", {{"E", 12}, {"NC", 4}, {"CH", 4}})), "");
  EXPECT_EQ(check(generic("dispatch_chunked_offsets", {{"E", 12}, {"BLOCK", 4}})), "");
  EXPECT_EQ(check(generic("dispatch_chunked_place", {{"E", 12}, {"K", 3}, {"MT", 16},
                                                     {"NC", 4}, {"CH", 4}, {"RMAX", 60}})),
            "");
}

TEST_F(KernelLibraryTest, GluEveryActivation) {
  for (const char *act : {"SILU", "GELU", "GELU_TANH", "RELU", "CLAMPED"})
    for (bool gated : {false, true})
      for (int round : {0, 1, 2})     // f32, bf16, f16
        for (bool stacked : {false, true}) { // gate and up in one buffer
          if (stacked && !gated)
            continue;
          KernelSpecialization s = generic(
              "glu", {{"ROWS", 16}, {"F", 6}, {"LD", stacked ? 12 : 6}, {"UOFF", stacked ? 6 : 0}});
          // gate and up of the result's type when it is written to `out`
          const char *type = round == 0 ? "f32" : round == 1 ? "bf16" : "f16";
          s.setElementType("GT", type).setElementType("OT", type);
          s.setF32("ALPHA", 1.702).setF32("LIMIT", 7.0);
          s.flag(act).flag("GATED", gated);
          s.flag("OUT", round > 0 || stacked).flag("TO_F16", round == 2).flag("ACT16", round > 0);
          EXPECT_EQ(check(s), "") << describe(s);
        }
}

TEST_F(KernelLibraryTest, GenericKernelsRefuseWrongParameters) {
  OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&context));
  KernelLibrary library(*module);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    diagnostics = d.str();
    return success();
  });
  Location loc = UnknownLoc::get(&context);
  // An unknown flag is an error, not a silent false.
  KernelSpecialization unknown = generic("permute", {{"MT", 16}, {"RMAX", 60}, {"H", 8}});
  unknown.setElementType("DT", "f32").flag("WEIGHTED");
  EXPECT_TRUE(failed(library.get(unknown, loc)));
  EXPECT_NE(diagnostics.find("kernel @permute has no parameter 'WEIGHTED'"),
            std::string::npos)
      << diagnostics;
  EXPECT_TRUE(failed(library.get(
      generic("permute", {{"MT", 16}, {"H", 8}}).setElementType("DT", "f32"), loc)));
  EXPECT_EQ(diagnostics, "kernel @permute needs parameter 'RMAX' of type 'index'");
  EXPECT_TRUE(failed(library.get(generic("permute", {{"MT", 16}, {"RMAX", 60}, {"H", 8}}), loc)));
  EXPECT_EQ(diagnostics, "kernel @permute needs parameter 'DT', an element type (f32, bf16 or f16)");
  KernelSpecialization twoActs = generic("glu", {{"ROWS", 16}, {"F", 6}, {"LD", 6}, {"UOFF", 0}});
  twoActs.setElementType("GT", "f32").setElementType("OT", "f32");
  twoActs.setF32("ALPHA", 1.0).setF32("LIMIT", 7.0).flag("SILU").flag("RELU");
  EXPECT_TRUE(failed(library.get(twoActs, loc)));
  EXPECT_EQ(diagnostics, "kernel @glu needs exactly one of SILU, GELU, "
                         "GELU_TANH, RELU, CLAMPED, got SILU, RELU");
}

TEST_F(KernelLibraryTest, CombineScoresAndTheRest) {
  for (bool passthrough : {false, true})
    for (bool addend : {false, true}) {
      KernelSpecialization s = generic("combine", {{"MT", 16}, {"RMAX", 60}, {"H", 8}, {"K", 3}});
      s.flag("PASSTHROUGH", passthrough).flag("ADDEND", addend);
      s.setElementType("YT", addend ? "bf16" : "f32").setElementType("OT", passthrough ? "f16" : "f32");
      s.setElementType("AT", addend ? "bf16" : "f32");
      EXPECT_EQ(check(s), "") << describe(s);
    }
  for (const char *scoring : {"SOFTMAX", "SIGMOID", "NONE"})
    for (bool indices : {false, true})
      for (bool scaled : {false, true}) {
        KernelSpecialization s = generic("scores", {{"MT", 16}, {"E", 12}});
        s.setF32("SCALE", 2.5).flag(scoring).flag("INDICES", indices);
        s.flag("SCALED", scaled);
        EXPECT_EQ(check(s), "") << describe(s);
      }
  KernelSpecialization ec = generic("expert_choice", {{"MT", 16}, {"E", 12}, {"RMAX", 60},
                                            {"RPT", 3}, {"RFIX", 12}});
  EXPECT_EQ(check(ec.setF64("CF", 2.0)), "");
  for (const char *kind : {"elementwise_bias", "elementwise_add"})
    EXPECT_EQ(check(generic(kind, {{"ROWS", 16}, {"COLS", 8}})), "") << kind;
  for (const char *type : {"f32", "bf16"})
    EXPECT_EQ(check(generic("elementwise_sigmoid_scale", {{"ROWS", 16}, {"COLS", 8}, {"H", 8}})
                        .setElementType("YT", type)),
              "")
        << type;
  for (bool f16 : {false, true}) {
    KernelSpecialization s = generic("elementwise_round16", {{"ROWS", 16}, {"COLS", 8}});
    s.flag("TO_F16", f16);
    EXPECT_EQ(check(s), "") << describe(s);
  }
  for (bool weighted : {false, true}) {
    KernelSpecialization s = generic("unpermute", {{"MT", 16}, {"RMAX", 60}, {"H", 8},
                                         {"RPT", 3}, {"RFIX", 12}});
    s.flag("WEIGHTED", weighted);
    EXPECT_EQ(check(s), "") << describe(s);
  }
  for (const char *type : {"f32", "bf16", "f16"})
    EXPECT_EQ(check(generic("permute", {{"MT", 16}, {"RMAX", 60}, {"H", 8}})
                        .setElementType("DT", type)),
              "")
        << type;
  EXPECT_EQ(check(generic("router_stats_partial",
                          {{"MT", 16}, {"E", 12}, {"K", 3}, {"NC", 4}, {"CH", 4}})),
            "");
  EXPECT_EQ(check(generic("router_stats_final", {{"E", 12}, {"NC", 4}, {"CH", 4}})), "");
}

TEST_F(KernelLibraryTest, IdenticalSpecsShareOneKernel) {
  OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&context));
  KernelLibrary library(*module);
  KernelSpecialization a = generic("permute", {{"MT", 16}, {"RMAX", 60}, {"H", 8}});
  a.setElementType("DT", "f32");
  KernelSpecialization b = a;
  auto fa = library.get(a, UnknownLoc::get(&context));
  auto fb = library.get(b, UnknownLoc::get(&context));
  ASSERT_TRUE(succeeded(fa) && succeeded(fb));
  EXPECT_EQ(fa->getSymName(), "permute_0");
  EXPECT_EQ(fb->getSymName(), "permute_0");
  b.set("H", 9);
  auto fc = library.get(b, UnknownLoc::get(&context));
  ASSERT_TRUE(succeeded(fc));
  EXPECT_EQ(fc->getSymName(), "permute_1");
}

} // namespace
