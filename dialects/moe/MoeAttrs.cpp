//===- MoeAttrs.cpp - routing and expert configuration attributes ---------===//
#include "moe/MoeDialect.h"
#include "moert/format.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace mlir;
using namespace moec::moe;

FailureOr<APFloat> moec::moe::parseF64Param(AsmParser &parser) {
  double value;
  if (parser.parseFloat(value))
    return failure();
  return APFloat(value);
}

void moec::moe::printF64Param(AsmPrinter &printer, const APFloat &param) {
  double value = param.convertToDouble();
  // The shortest %g form that reads back exactly; MLIR float literals need a
  // '.', so one is added where %g leaves it out ("1" -> "1.0", "1e-20" ->
  // "1.0e-20").
  std::string text;
  for (int precision = 1; precision <= 17; ++precision) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    text = buf;
    if (std::strtod(text.c_str(), nullptr) == value)
      break;
  }
  if (text.find_first_of(".") == std::string::npos &&
      text.find_first_of("ni") == std::string::npos) {
    size_t exp = text.find_first_of("eE");
    text.insert(exp == std::string::npos ? text.size() : exp, ".0");
  }
  printer << text;
}

static bool isFinitePositive(double v) { return std::isfinite(v) && v > 0.0; }

LogicalResult
RoutingAttr::verify(function_ref<InFlightDiagnostic()> emitError, int64_t k,
                    ScoringFunc scoring, bool renormalize, APFloat epsilonF,
                    APFloat scalingF, int64_t nGroup, int64_t topkGroup,
                    GroupScore, bool softmaxAfterTopk) {
  double epsilon = epsilonF.convertToDouble();
  double scalingFactor = scalingF.convertToDouble();
  if (k < 1)
    return emitError() << "routing: k must be at least 1, got " << k;
  if (!(std::isfinite(epsilon) && epsilon >= 0.0))
    return emitError() << "routing: epsilon must be finite and >= 0, got "
                       << epsilon;
  if (!isFinitePositive(scalingFactor))
    return emitError() << "routing: scaling_factor must be finite and > 0, got "
                       << scalingFactor;
  if (nGroup < 1)
    return emitError() << "routing: n_group must be at least 1, got " << nGroup;
  if (topkGroup < 1 || topkGroup > nGroup)
    return emitError() << "routing: topk_group must be in [1, n_group = "
                       << nGroup << "], got " << topkGroup;
  if (softmaxAfterTopk && scoring != ScoringFunc::none)
    return emitError() << "routing: softmax_after_topk selects on raw logits "
                          "and needs scoring = none, got scoring = "
                       << stringifyScoringFunc(scoring);
  if (softmaxAfterTopk && renormalize)
    return emitError() << "routing: softmax_after_topk weights are already "
                          "normalized; renormalize must be false";
  return success();
}

LogicalResult RoutingAttr::verifyForExperts(
    function_ref<InFlightDiagnostic()> emitError, int64_t numExperts) const {
  if (getK() > numExperts)
    return emitError() << "routing: k = " << getK()
                       << " exceeds the number of experts E = " << numExperts;
  if (numExperts % getNGroup() != 0)
    return emitError() << "routing: E = " << numExperts
                       << " is not divisible by n_group = " << getNGroup();
  if (isGroupLimited()) {
    int64_t groupSize = getGroupSize(numExperts);
    if (getGroupScore() == GroupScore::top2_sum && groupSize < 2)
      return emitError() << "routing: group_score = top2_sum needs at least 2 "
                            "experts per group, got "
                         << groupSize;
    if (getK() > getTopkGroup() * groupSize)
      return emitError() << "routing: k = " << getK()
                         << " exceeds the experts in the topk_group = "
                         << getTopkGroup() << " kept groups of " << groupSize;
  }
  return success();
}

LogicalResult FfnAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                              Activation activation, bool gated,
                              APFloat alphaF, APFloat limitF) {
  double alpha = alphaF.convertToDouble(), limit = limitF.convertToDouble();
  if (activation == Activation::clamped_swiglu && !gated)
    return emitError() << "ffn: clamped_swiglu is a gated activation; "
                          "gated must be true";
  if (!isFinitePositive(alpha))
    return emitError() << "ffn: alpha must be finite and > 0, got " << alpha;
  if (!isFinitePositive(limit))
    return emitError() << "ffn: limit must be finite and > 0, got " << limit;
  return success();
}

LogicalResult
CapacityAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                     APFloat factorF, int64_t tokens, OverflowPolicy) {
  double factor = factorF.convertToDouble();
  if (!isFinitePositive(factor))
    return emitError() << "capacity: factor must be finite and > 0, got "
                       << factor;
  if (tokens < 0 || tokens > kMaxDimension)
    return emitError() << "capacity: tokens must be in [0, " << kMaxDimension
                       << "] (0: use factor), got " << tokens;
  return success();
}

int64_t CapacityAttr::getCapacity(int64_t numTokens, int64_t k,
                                  int64_t numExperts) const {
  if (getTokens() > 0)
    return getTokens();
  // No expert receives more than one copy of a token, so a capacity above T
  // admits the same copies as T: clamp (a factor of 1e15 must not overflow).
  double c = std::ceil(getFactor().convertToDouble() *
                       static_cast<double>(numTokens * k) /
                       static_cast<double>(numExperts));
  return c >= static_cast<double>(numTokens) ? numTokens
                                             : static_cast<int64_t>(c);
}

LogicalResult
ExpertChoiceAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                         APFloat capacityFactorF, ScoringFunc scoring) {
  double capacityFactor = capacityFactorF.convertToDouble();
  if (!isFinitePositive(capacityFactor))
    return emitError() << "expert_choice: capacity_factor must be finite and "
                          "> 0, got "
                       << capacityFactor;
  if (scoring == ScoringFunc::none)
    return emitError() << "expert_choice: scoring must be softmax or sigmoid";
  return success();
}

int64_t ExpertChoiceAttr::getCapacity(int64_t numTokens,
                                      int64_t numExperts) const {
  return moert::expertChoiceCapacity(getCapacityFactor().convertToDouble(), numTokens,
                                     numExperts);
}
