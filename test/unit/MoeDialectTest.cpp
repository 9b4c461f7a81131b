//===- MoeDialectTest.cpp - unit tests of the moe dialect's C++ API -------===//
#include "moe/MoeDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace mlir;
using namespace moec::moe;

namespace {

class MoeDialectTest : public ::testing::Test {
protected:
  MoeDialectTest() { context.getOrLoadDialect<MoeDialect>(); }

  /// Prints `attr` and parses it back.
  Attribute roundTrip(Attribute attr) {
    std::string text;
    llvm::raw_string_ostream os(text);
    attr.print(os);
    return parseAttribute(text, &context);
  }

  MLIRContext context;
};

TEST_F(MoeDialectTest, CapacityIsCeilOfFactorTimesCopiesOverExperts) {
  auto cap = CapacityAttr::get(&context, APFloat(1.25), /*tokens=*/0,
                               OverflowPolicy::drop);
  EXPECT_EQ(cap.getCapacity(/*T=*/7, /*k=*/2, /*E=*/8), 3);  // ceil(2.1875)
  EXPECT_EQ(cap.getCapacity(/*T=*/8, /*k=*/2, /*E=*/8), 3);  // ceil(2.5)
  EXPECT_EQ(cap.getCapacity(/*T=*/16, /*k=*/2, /*E=*/8), 5); // 5.0 exactly
  EXPECT_EQ(cap.getCapacity(/*T=*/0, /*k=*/2, /*E=*/8), 0);
  auto fixed = CapacityAttr::get(&context, APFloat(1.0), /*tokens=*/64,
                                 OverflowPolicy::drop);
  EXPECT_EQ(fixed.getCapacity(1, 1, 8), 64);
  EXPECT_EQ(fixed.getCapacity(100000, 1, 8), 64);
}

TEST_F(MoeDialectTest, ExpertChoiceCapacityIsAtMostT) {
  auto ec = ExpertChoiceAttr::get(&context, APFloat(2.0), ScoringFunc::softmax);
  EXPECT_EQ(ec.getCapacity(/*T=*/16, /*E=*/8), 4);
  EXPECT_EQ(ec.getCapacity(/*T=*/5, /*E=*/8), 2); // ceil(1.25)
  auto wide = ExpertChoiceAttr::get(&context, APFloat(16.0), ScoringFunc::softmax);
  EXPECT_EQ(wide.getCapacity(/*T=*/3, /*E=*/4), 3); // ceil(12) clamped to T
}

TEST_F(MoeDialectTest, RoutingGroupHelpers) {
  auto r = RoutingAttr::get(&context, 8, ScoringFunc::sigmoid, true,
                            APFloat(1e-20), APFloat(2.5), 8, 4,
                            GroupScore::top2_sum, false);
  EXPECT_TRUE(r.isGroupLimited());
  EXPECT_EQ(r.getGroupSize(256), 32);
  int errors = 0;
  auto emit = [&] {
    ++errors;
    return emitError(UnknownLoc::get(&context));
  };
  ScopedDiagnosticHandler silence(&context, [](Diagnostic &) { return success(); });
  EXPECT_TRUE(succeeded(r.verifyForExperts(emit, 256)));
  EXPECT_TRUE(failed(r.verifyForExperts(emit, 100))); // 100 % 8 != 0
  EXPECT_TRUE(failed(r.verifyForExperts(emit, 8)));   // group size 1 < 2
  EXPECT_EQ(errors, 2);
}

TEST_F(MoeDialectTest, F64ParametersRoundTripExactly) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> mantissa(0.5, 1.0);
  std::uniform_int_distribution<int> exponent(-60, 60);
  for (int i = 0; i < 500; ++i) {
    double v = std::ldexp(mantissa(rng), exponent(rng));
    auto attr = CapacityAttr::get(&context, APFloat(v), 0, OverflowPolicy::drop);
    auto back = dyn_cast_or_null<CapacityAttr>(roundTrip(attr));
    ASSERT_TRUE(back) << "did not parse back: " << v;
    EXPECT_EQ(back.getFactor().convertToDouble(), v);
  }
  for (double v : {1.0, 0.1, 1e-20, 1.702, 7.0, 2.5, 123456789.0}) {
    auto attr = FfnAttr::get(&context, Activation::clamped_swiglu, true,
                             APFloat(v), APFloat(7.0));
    auto back = dyn_cast_or_null<FfnAttr>(roundTrip(attr));
    ASSERT_TRUE(back);
    EXPECT_EQ(back.getAlpha().convertToDouble(), v);
  }
}

TEST_F(MoeDialectTest, DefaultParametersAreElided) {
  auto r = RoutingAttr::get(&context, 2, ScoringFunc::softmax, true,
                            APFloat(0.0), APFloat(1.0), 1, 1,
                            GroupScore::top2_sum, false);
  std::string text;
  llvm::raw_string_ostream os(text);
  Attribute(r).print(os);
  EXPECT_EQ(text, "#moe.routing<k = 2, renormalize = true>");
}

TEST_F(MoeDialectTest, StackedWeightNamesPerExpert) {
  auto module = parseSourceString<ModuleOp>(R"mlir(
    %w = moe.weight "layers.3.experts.{e}.w1.weight" from "m.safetensors" : tensor<12x4x6xf32>
    %v = moe.weight "gate.{e}.{e}" from "m.safetensors" : tensor<12x6xf32>
  )mlir", &context);
  ASSERT_TRUE(module);
  auto ops = module->getOps<WeightOp>();
  auto it = ops.begin();
  WeightOp w = *it++, v = *it;
  EXPECT_TRUE(w.isStackedPerExpert());
  EXPECT_EQ(w.getTensorNameForExpert(0), "layers.3.experts.0.w1.weight");
  EXPECT_EQ(w.getTensorNameForExpert(11), "layers.3.experts.11.w1.weight");
  EXPECT_EQ(v.getTensorNameForExpert(10), "gate.10.10");
}

TEST_F(MoeDialectTest, BuildersProduceVerifiedOps) {
  OpBuilder b(&context);
  Location loc = b.getUnknownLoc();
  auto module = ModuleOp::create(b, loc);
  b.setInsertionPointToEnd(module.getBody());
  auto f32 = b.getF32Type();
  int64_t dyn = ShapedType::kDynamic;
  auto logitsTy = RankedTensorType::get({dyn, 8}, f32);
  auto w = WeightOp::create(b, loc, RankedTensorType::get({5, 8}, f32),
                            b.getStringAttr("logits"), StringAttr(),
                            DenseElementsAttr::get(
                                RankedTensorType::get({5, 8}, f32), 0.5f),
                            IntegerAttr(), WeightFormatAttr(), StringAttr(),
                            IntegerAttr(), IntegerAttr());
  auto routing = RoutingAttr::get(&context, 2, ScoringFunc::softmax, true,
                                  APFloat(0.0), APFloat(1.0), 1, 1,
                                  GroupScore::top2_sum, false);
  (void)logitsTy;
  auto topk = TopKOp::create(b, loc, RankedTensorType::get({5, 2}, f32),
                             RankedTensorType::get({5, 2}, b.getI32Type()),
                             w.getResult(), Value(), routing);
  EXPECT_TRUE(succeeded(verify(module)));
  // A result type that disagrees with k is rejected.
  auto bad = TopKOp::create(b, loc, RankedTensorType::get({5, 3}, f32),
                            RankedTensorType::get({5, 3}, b.getI32Type()),
                            w.getResult(), Value(), routing);
  std::string message;
  ScopedDiagnosticHandler capture(&context, [&](Diagnostic &d) {
    message = d.str();
    return success();
  });
  EXPECT_TRUE(failed(verify(module)));
  EXPECT_EQ(message, "'moe.topk' op weights dim 1 is 3, expected k = 2");
  bad->erase();
  topk->erase();
  module->erase();
}

} // namespace
