//===- ApiTest.cpp - the C API's small pieces and the C++ wrapper ----------===//
#include "TestUtil.h"

#include "moert/format.h"

#include <cstring>

using namespace moert::test;

TEST(Api, VersionAndBackends) {
  EXPECT_STREQ(moert_version(), "0.2.0");
  EXPECT_STREQ(moert_backends(), "cpu,cuda");
  EXPECT_EQ(moert_format_version(), moert::kFormatVersion);
  EXPECT_EQ(moert::version(), "0.2.0");
}

TEST(Api, NullStatusMeansSuccess) {
  EXPECT_EQ(moert_status_code(nullptr), MOERT_OK);
  EXPECT_STREQ(moert_status_message(nullptr), "ok");
  moert_status_free(nullptr); // fine
  moert::Status s = moert::Status::adopt(nullptr);
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), MOERT_OK);
}

TEST(Api, StatusCarriesCodeAndMessage) {
  moert_model_t *m = nullptr;
  moert_status_t *st = moert_model_load_memory("MOEB", 4, &m);
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(m, nullptr);
  EXPECT_EQ(moert_status_code(st), MOERT_INVALID_ARTIFACT);
  EXPECT_NE(std::strstr(moert_status_message(st), "smaller than the 128-byte header"), nullptr);
  EXPECT_EQ(std::strchr(moert_status_message(st), '\n'), nullptr);
  moert_status_free(st);
}

TEST(Api, CodeNames) {
  EXPECT_STREQ(moert_status_code_name(MOERT_OK), "ok");
  EXPECT_STREQ(moert_status_code_name(MOERT_INVALID_ARTIFACT), "invalid artifact");
  EXPECT_STREQ(moert_status_code_name(MOERT_UNSUPPORTED), "unsupported");
  EXPECT_STREQ(moert_status_code_name(MOERT_EXECUTION_ERROR), "execution error");
  EXPECT_STREQ(moert_status_code_name(static_cast<moert_status_code_t>(99)), "unknown status code");
}

TEST(Api, DTypes) {
  EXPECT_EQ(moert_dtype_size(MOERT_F32), 4u);
  EXPECT_EQ(moert_dtype_size(MOERT_F16), 2u);
  EXPECT_EQ(moert_dtype_size(MOERT_BF16), 2u);
  EXPECT_EQ(moert_dtype_size(MOERT_I32), 4u);
  EXPECT_EQ(moert_dtype_size(MOERT_INT8), 0u); // scales among the codes
  EXPECT_EQ(moert_dtype_size(static_cast<moert_dtype_t>(9)), 0u);
  EXPECT_STREQ(moert_dtype_name(MOERT_BF16), "bf16");
  EXPECT_STREQ(moert_dtype_name(MOERT_INT8), "int8");
  EXPECT_STREQ(moert_dtype_name(MOERT_INT4), "int4");
  EXPECT_STREQ(moert_dtype_name(static_cast<moert_dtype_t>(9)), "?");
  // The C enum matches the schema's.
  EXPECT_EQ(int(MOERT_F32), int(moert::fb::DType::F32));
  EXPECT_EQ(int(MOERT_F16), int(moert::fb::DType::F16));
  EXPECT_EQ(int(MOERT_BF16), int(moert::fb::DType::BF16));
  EXPECT_EQ(int(MOERT_I32), int(moert::fb::DType::I32));
  EXPECT_EQ(int(MOERT_INT8), int(moert::fb::DType::INT8));
  EXPECT_EQ(int(MOERT_INT4), int(moert::fb::DType::INT4));
}

TEST(Api, NullHandlesAreHandled) {
  moert_tensor_t view;
  moert_tensor_info_t info;
  size_t index;
  moert_status_t *st = moert_session_run(nullptr, "f", nullptr, 0, nullptr, 0);
  EXPECT_EQ(moert_status_code(st), MOERT_INVALID_ARGUMENT);
  moert_status_free(st);
  st = moert_session_output(nullptr, 0, &view);
  EXPECT_EQ(moert_status_code(st), MOERT_INVALID_ARGUMENT);
  moert_status_free(st);
  st = moert_model_tensor_info(nullptr, 0, MOERT_TENSOR_INPUT, 0, &info);
  EXPECT_EQ(moert_status_code(st), MOERT_INVALID_ARGUMENT);
  moert_status_free(st);
  st = moert_model_find_function(nullptr, "f", &index);
  EXPECT_EQ(moert_status_code(st), MOERT_INVALID_ARGUMENT);
  moert_status_free(st);
  moert_session_free(nullptr);
  moert_model_free(nullptr);
  EXPECT_EQ(moert_session_num_threads(nullptr), 0);
  moert_session_options_t o;
  o.threads = 7;
  moert_session_options_init(&o);
  EXPECT_EQ(o.threads, 0);
}

TEST(Api, WrapperExpected) {
  auto bad = moert::Model::fromMemory("x", 1);
  EXPECT_FALSE(bad);
  EXPECT_EQ(bad.status().code(), MOERT_INVALID_ARTIFACT);
  EXPECT_STREQ(bad.status().codeName(), "invalid artifact");
  moert_tensor_t t = moert::tensor(MOERT_F16, {3, 4}, nullptr, 24);
  EXPECT_EQ(t.rank, 2);
  EXPECT_EQ(t.shape[1], 4);
  EXPECT_EQ(t.dtype, MOERT_F16);
}
