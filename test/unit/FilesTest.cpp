//===- FilesTest.cpp - moec/Support/Files.h ---------------------------------===//
#include "moec/Support/Files.h"
#include "moec/Support/JsonError.h"

#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace moec;

namespace {

std::string tempPath(const char *name) {
  return ::testing::TempDir() + "moec-files-" + std::to_string(::getpid()) + "-" + name;
}

std::string errorOf(llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> b) {
  return b ? "<read>" : llvm::toString(b.takeError());
}

TEST(Files, RegularFilesOnly) {
  std::string fifo = tempPath("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opening without O_NONBLOCK would wait here for a writer.
  EXPECT_EQ(errorOf(openInputFile(fifo, 1024)), fifo + ": is a FIFO, not a regular file");
  ::unlink(fifo.c_str());
  EXPECT_EQ(errorOf(openInputFile("/dev/zero", 1024)),
            "/dev/zero: is a character device, not a regular file");
  EXPECT_EQ(errorOf(openInputFile("/", 1024)), "/: is a directory, not a regular file");
  EXPECT_NE(errorOf(openInputFile(tempPath("missing"), 1024)).find("cannot open"),
            std::string::npos);
}

TEST(Files, SizesAreBounded) {
  std::string path = tempPath("big");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "0123456789", 10), 10);
  ::close(fd);
  EXPECT_EQ(errorOf(openInputFile(path, 9)),
            path + ": is 10 bytes, more than the 9 this input may have");
  auto ok = openInputFile(path, 10);
  ASSERT_TRUE(bool(ok));
  EXPECT_EQ((*ok)->getBuffer(), "0123456789");
  ::unlink(path.c_str());
}

TEST(Files, NestingDepth) {
  EXPECT_EQ(jsonNestingDepth(R"({"a": [1, {"b": "[[[["}]})", 100), 3u);
  EXPECT_EQ(jsonNestingDepth(std::string(500, '['), 128), 129u); // stops early
  auto deep = parseJson(std::string(200, '[') + std::string(200, ']'));
  ASSERT_FALSE(bool(deep));
  EXPECT_EQ(formatJsonError(deep.takeError()), "nested more than 128 levels deep; refused");
  EXPECT_TRUE(bool(parseJson(std::string(128, '[') + std::string(128, ']'))));
  llvm::Error deepMlir = checkMlirInput("module {" + std::string(300, '(') + "}", "x.mlir");
  ASSERT_TRUE(bool(deepMlir));
  EXPECT_EQ(llvm::toString(std::move(deepMlir)),
            "x.mlir: line 1: nested more than 256 levels deep (regions, "
            "attributes or types); moec refuses such input");
  // '->', strings and comments are not brackets.
  std::string ok = "func.func @f() -> () attributes {s = \"" + std::string(400, '<') +
                   "\"} // " + std::string(400, '{') + "\n";
  llvm::Error e = checkMlirInput(ok, "x.mlir");
  EXPECT_FALSE(bool(e)) << llvm::toString(std::move(e));
  llvm::Error bc = checkMlirInput(llvm::StringRef("ML\xefR\0\1", 6), "x.mlirbc");
  ASSERT_TRUE(bool(bc));
  EXPECT_NE(llvm::toString(std::move(bc)).find("is MLIR bytecode"), std::string::npos);
}

// A mapped file that shrinks under its reader: SIGBUS on the next access
// becomes one error line naming the file, and exit status 1.
TEST(FilesDeathTest, ATruncatedMappedFileIsAnErrorLine) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::string path = tempPath("shrinks");
  auto run = [&] {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ::ftruncate(fd, 1 << 20) != 0)
      ::_exit(3);
    auto *p = static_cast<volatile char *>(
        ::mmap(nullptr, 1 << 20, PROT_READ, MAP_SHARED, fd, 0));
    MappedFileGuard guard(const_cast<char *>(p), 1 << 20, path);
    if (::ftruncate(fd, 0) != 0)
      ::_exit(3);
    (void)p[1 << 19]; // past the new end: SIGBUS
    ::_exit(0);
  };
  EXPECT_EXIT(run(), ::testing::ExitedWithCode(1),
              "error: .*shrinks: the file shrank while it was being read \\(SIGBUS\\)");
  ::unlink(path.c_str());
}

} // namespace
