//===- KernelSpecialization.cpp - generic kernels made concrete -----------===//
#include "moec/Conversion/KernelSpecialization.h"

#include "exec/ExecDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

using namespace mlir;
using namespace moec;

FrozenRewritePatternSet moec::getKernelFoldingPatterns(MLIRContext *ctx) {
  RewritePatternSet patterns(ctx);
  for (Dialect *dialect : ctx->getLoadedDialects())
    dialect->getCanonicalizationPatterns(patterns);
  for (RegisteredOperationName op : ctx->getRegisteredOperations())
    op.getCanonicalizationPatterns(patterns, ctx);
  return FrozenRewritePatternSet(std::move(patterns));
}

namespace {

std::string listOf(DictionaryAttr params) {
  std::string s;
  for (NamedAttribute p : params) {
    std::string type;
    llvm::raw_string_ostream(type) << cast<TypeAttr>(p.getValue()).getValue();
    s += (s.empty() ? "" : ", ") + p.getName().str() + ": " + type;
  }
  return s;
}

/// The constant of parameter `name` of type `type` bound to `value`.
FailureOr<TypedAttr> constantOf(StringRef name, Type type, Attribute value,
                                Location loc, StringRef kernel) {
  auto fail = [&](StringRef what) -> FailureOr<TypedAttr> {
    return emitError(loc) << "kernel @" << kernel << ": parameter '" << name
                          << "' is " << type << ", bound to " << what << " "
                          << value;
  };
  if (type.isIndex() || type.isInteger(64) || type.isInteger(1)) {
    int64_t v;
    if (auto b = dyn_cast<BoolAttr>(value))
      v = b.getValue();
    else if (auto i = dyn_cast<IntegerAttr>(value))
      v = i.getValue().getSExtValue();
    else
      return fail("the non-integer");
    if (type.isInteger(1) && v != 0 && v != 1)
      return fail("the value");
    return cast<TypedAttr>(IntegerAttr::get(type, v));
  }
  if (auto i = dyn_cast<IntegerAttr>(value); i && !isa<BoolAttr>(value))
    return cast<TypedAttr>(
        FloatAttr::get(type, static_cast<double>(i.getValue().getSExtValue())));
  auto f = dyn_cast<FloatAttr>(value);
  if (!f)
    return fail("the non-number");
  return cast<TypedAttr>(FloatAttr::get(type, f.getValueAsDouble()));
}

/// Inlines every call in `fn` (the clone of `kernel`) to a single-block
/// function of `library`.
LogicalResult inlineHelpers(func::FuncOp fn, StringRef kernel, ModuleOp library,
                            Location loc) {
  for (int round = 0; round < 8; ++round) {
    SmallVector<func::CallOp> calls;
    fn.walk([&](func::CallOp call) { calls.push_back(call); });
    if (calls.empty())
      return success();
    for (func::CallOp call : calls) {
      auto callee = library.lookupSymbol<func::FuncOp>(call.getCallee());
      if (!callee || callee.isExternal() || !callee.getBody().hasOneBlock() ||
          callee->hasAttr(exec::ExecDialect::KernelParamsAttrHelper::getNameStr()))
        return emitError(call.getLoc())
               << "kernel @" << kernel << " calls @"
               << call.getCallee()
               << ", which is not a single-block helper of the kernel library";
      IRMapping map;
      Block &body = callee.getBody().front();
      map.map(body.getArguments(), call.getOperands());
      OpBuilder b(call);
      for (Operation &op : body.without_terminator())
        b.clone(op, map);
      auto ret = cast<func::ReturnOp>(body.getTerminator());
      for (auto [result, value] : llvm::zip(call.getResults(), ret.getOperands()))
        result.replaceAllUsesWith(map.lookupOrDefault(value));
      call.erase();
    }
  }
  return emitError(loc) << "kernel @" << kernel
                        << ": helpers nested more than 8 deep";
}

/// `v` of `elem` (bf16 or f16) widened exactly to f32: a bf16's bits shifted
/// into the top half of an f32 (integer ops, which the host's vectorizer
/// handles; arith.extf of bf16 becomes a call per element there), an f16's
/// by arith.extf.
Value widenFrom(OpBuilder &b, Location loc, Value v) {
  if (!v.getType().isBF16())
    return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
  Value bits = arith::BitcastOp::create(b, loc, b.getIntegerType(16), v);
  Value wide = arith::ExtUIOp::create(b, loc, b.getI32Type(), bits);
  Value top = arith::ShLIOp::create(
      b, loc, wide, arith::ConstantIntOp::create(b, loc, b.getI32Type(), 16));
  return arith::BitcastOp::create(b, loc, b.getF32Type(), top);
}

/// The f32 `v` rounded to `elem` (bf16 or f16) to nearest even, as the
/// kernel library's round_to_bf16 and round_to_f16 (Kernels/rows.mlir) do: a
/// NaN becomes bf16's quiet NaN 0x7FC0.
Value roundTo(OpBuilder &b, Location loc, Value v, Type elem) {
  if (elem.isF16())
    return arith::TruncFOp::create(b, loc, elem, v);
  Type i32 = b.getI32Type(), i16 = b.getIntegerType(16);
  auto c32 = [&](int32_t x) { return arith::ConstantIntOp::create(b, loc, i32, x); };
  Value bits = arith::BitcastOp::create(b, loc, i32, v);
  Value hi = arith::ShRUIOp::create(b, loc, bits, c32(16));
  Value odd = arith::AndIOp::create(b, loc, hi, c32(1));
  Value inc = arith::AddIOp::create(b, loc, c32(0x7FFF), odd);
  Value sum = arith::AddIOp::create(b, loc, bits, inc);
  Value top = arith::ShRUIOp::create(b, loc, sum, c32(16));
  Value rounded = arith::TruncIOp::create(b, loc, i16, top);
  Value nan = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, v, v);
  Value qnan = arith::ConstantIntOp::create(b, loc, i16, 0x7FC0);
  Value picked = arith::SelectOp::create(b, loc, nan, qnan, rounded);
  return arith::BitcastOp::create(b, loc, elem, picked);
}

} // namespace

FailureOr<func::FuncOp>
moec::specializeKernel(func::FuncOp generic, StringRef name,
                       const KernelBindings &bindings, ModuleOp into,
                       const FrozenRewritePatternSet &folding, Location loc) {
  MLIRContext *ctx = generic.getContext();
  auto *dialect = ctx->getLoadedDialect<exec::ExecDialect>();
  StringRef kernel = generic.getSymName();
  DictionaryAttr params = dialect->getKernelParamsAttrHelper().getAttr(generic);
  if (!params)
    return emitError(loc) << "@" << kernel
                          << " is not a generic kernel (no exec.kernel_params)";
  if (generic.isExternal())
    return emitError(loc) << "@" << kernel
                          << " is a declaration: there is no body to specialize";

  // 1. The bindings against the declared parameters.
  llvm::StringMap<TypedAttr> values;
  llvm::StringMap<Type> elementTypes; // the type parameters (declared none)
  for (const auto &entry : bindings) {
    auto type = params.getAs<TypeAttr>(entry.getKey());
    if (!type)
      return emitError(loc) << "kernel @" << kernel << " has no parameter '"
                            << entry.getKey() << "' (its parameters: "
                            << listOf(params) << ")";
    if (isa<NoneType>(type.getValue())) {
      auto t = dyn_cast<TypeAttr>(entry.getValue());
      if (!t || !(t.getValue().isF32() || t.getValue().isBF16() ||
                  t.getValue().isF16()))
        return emitError(loc) << "kernel @" << kernel << ": parameter '"
                              << entry.getKey()
                              << "' is an element type (f32, bf16 or f16), "
                                 "bound to "
                              << entry.getValue();
      elementTypes[entry.getKey()] = t.getValue();
      continue;
    }
    auto c = constantOf(entry.getKey(), type.getValue(), entry.getValue(), loc,
                        kernel);
    if (failed(c))
      return failure();
    values[entry.getKey()] = *c;
  }
  for (NamedAttribute p : params) {
    Type type = cast<TypeAttr>(p.getValue()).getValue();
    if (values.count(p.getName().getValue()) ||
        elementTypes.count(p.getName().getValue()))
      continue;
    if (isa<NoneType>(type))
      return emitError(loc) << "kernel @" << kernel << " needs parameter '"
                            << p.getName().getValue()
                            << "', an element type (f32, bf16 or f16)";
    if (!type.isInteger(1))
      return emitError(loc) << "kernel @" << kernel << " needs parameter '"
                            << p.getName().getValue() << "' of type " << type;
    values[p.getName().getValue()] = IntegerAttr::get(type, 0); // a flag: off
  }

  if (auto groups = dialect->getKernelOneOfAttrHelper().getAttr(generic))
    for (auto group : groups.getAsRange<ArrayAttr>()) {
      std::string names, set;
      for (auto flag : group.getAsRange<StringAttr>()) {
        names += (names.empty() ? "" : ", ") + flag.str();
        if (cast<IntegerAttr>(values[flag.getValue()]).getInt())
          set += (set.empty() ? "" : ", ") + flag.str();
      }
      if (set.empty() || set.find(',') != std::string::npos)
        return emitError(loc) << "kernel @" << kernel << " needs exactly one of "
                              << names << ", got "
                              << (set.empty() ? std::string("none") : set);
    }

  // 2. The clone, with its helpers inlined.
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(into.getBody());
  auto fn = cast<func::FuncOp>(b.clone(*generic));
  fn.setSymName(name);
  auto parent = generic->getParentOfType<ModuleOp>();
  if (failed(inlineHelpers(fn, kernel, parent, loc))) {
    fn.erase();
    return failure();
  }

  // 3. Parameters become constants (helpers declare none: inlined code reads
  // the kernel's own).
  SmallVector<exec::ParamOp> reads;
  fn.walk([&](exec::ParamOp p) { reads.push_back(p); });
  for (exec::ParamOp p : reads) {
    TypedAttr value = values.lookup(p.getName());
    if (!value || value.getType() != p.getType()) {
      auto err = emitError(p.getLoc()) << "kernel @" << kernel << ": '"
                                       << p.getName()
                                       << "' is not a parameter of this type";
      fn.erase();
      return err;
    }
    OpBuilder at(p);
    Value c = arith::ConstantOp::create(at, p.getLoc(), value);
    p.replaceAllUsesWith(c);
    p.erase();
  }
  dialect->getKernelParamsAttrHelper().removeAttr(fn);
  if (dialect->getKernelOneOfAttrHelper().isAttrPresent(fn))
    dialect->getKernelOneOfAttrHelper().removeAttr(fn);

  // 4. Fold the flags' branches away.
  GreedyRewriteConfig config;
  (void)applyPatternsGreedily(fn.getOperation(), folding, config);

  // 5. Arguments: drop those whose flag is off, give the rest their shapes.
  llvm::BitVector drop(fn.getNumArguments());
  SmallVector<Type> types;
  // The stores into buffers of an element type (rewritten once every load
  // is: a value widened from a load of that type is stored as loaded, an
  // exact copy), and the loads' widened values.
  SmallVector<std::pair<memref::StoreOp, Type>> narrowStores;
  llvm::DenseMap<Value, Value> narrowOf;
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    BlockArgument arg = fn.getArgument(i);
    if (auto flag = fn.getArgAttrOfType<StringAttr>(
            i, exec::ExecDialect::IfAttrHelper::getNameStr())) {
      auto on = cast<IntegerAttr>(values[flag.getValue()]);
      if (on.getInt() == 0) {
        if (!arg.use_empty()) {
          auto err = emitError(loc) << "kernel @" << kernel << ": argument " << i
                                    << " is used with its flag '"
                                    << flag.getValue() << "' off";
          fn.erase();
          return err;
        }
        drop.set(i);
        continue;
      }
    }
    if (auto param = fn.getArgAttrOfType<StringAttr>(
            i, exec::ExecDialect::ElementTypeAttrHelper::getNameStr())) {
      // A buffer of a bound element type: each f32 load becomes a load of
      // that type, widened exactly, and each f32 store a store of the value
      // rounded to it (to nearest even; after folding, so that only the loads
      // and stores this variant keeps are looked at).
      Type elem = elementTypes.lookup(param.getValue());
      auto memref = cast<MemRefType>(arg.getType());
      if (elem && elem != memref.getElementType()) {
        for (Operation *user : llvm::to_vector(arg.getUsers())) {
          if (auto store = dyn_cast<memref::StoreOp>(user);
              store && store.getMemRef() == arg) {
            narrowStores.push_back({store, elem});
            continue;
          }
          auto load = dyn_cast<memref::LoadOp>(user);
          if (!load) {
            auto err = emitError(user->getLoc())
                       << "kernel @" << kernel << ": argument " << i
                       << " holds elements of type " << param.getValue()
                       << ", so it may only be loaded and stored, not used by '"
                       << user->getName() << "'";
            fn.erase();
            return err;
          }
          // The load's users read the widened value instead.
          SmallVector<OpOperand *> uses = llvm::map_to_vector(
              load.getResult().getUses(), [](OpOperand &use) { return &use; });
          load.getResult().setType(elem);
          OpBuilder after(load->getBlock(), std::next(load->getIterator()));
          Value widened = widenFrom(after, load.getLoc(), load.getResult());
          for (OpOperand *use : uses)
            use->set(widened);
          narrowOf[widened] = load.getResult();
        }
        arg.setType(MemRefType::Builder(memref).setElementType(elem));
      }
    }
    if (auto shape = fn.getArgAttrOfType<ArrayAttr>(
            i, exec::ExecDialect::ShapeAttrHelper::getNameStr())) {
      SmallVector<int64_t> dims;
      for (Attribute entry : shape) {
        exec::ShapeDim d = *exec::parseShapeDim(entry); // verified
        int64_t v = d.param.empty()
                        ? 0
                        : cast<IntegerAttr>(values[d.param]).getInt();
        __int128 dim = static_cast<__int128>(d.scale) * v + d.offset;
        if (dim < 0 || dim > std::numeric_limits<int32_t>::max()) {
          auto err = emitError(loc) << "kernel @" << kernel << ": argument "
                                    << i << " has a dimension out of range ("
                                    << entry << " with " << d.param << " = "
                                    << v << ")";
          fn.erase();
          return err;
        }
        dims.push_back(static_cast<int64_t>(dim));
      }
      arg.setType(MemRefType::Builder(cast<MemRefType>(arg.getType()))
                      .setShape(dims));
    }
    types.push_back(arg.getType());
  }
  for (unsigned i = 0; i < fn.getNumArguments(); ++i)
    fn.setArgAttrs(i, DictionaryAttr::get(ctx));
  for (auto [store, elem] : narrowStores) {
    Value v = store.getValueToStore(), narrow = narrowOf.lookup(v);
    OpBuilder at(store);
    store.getValueMutable().assign(narrow && narrow.getType() == elem
                                       ? narrow
                                       : roundTo(at, store.getLoc(), v, elem));
  }
  if (failed(fn.eraseArguments(drop))) {
    fn.erase();
    return emitError(loc) << "kernel @" << kernel << ": cannot drop arguments";
  }
  fn.setType(FunctionType::get(ctx, types, {}));

  // 6. Fold what the static shapes made constant, and check.
  (void)applyPatternsGreedily(fn.getOperation(), folding, config);
  if (failed(verify(fn))) {
    fn.erase();
    return emitError(loc) << "kernel @" << kernel << " specialized as @" << name
                          << " does not verify";
  }
  return fn;
}
