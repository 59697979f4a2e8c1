// Helpers for the data-layer tests: a self-removing temp folder and writers for the exact
// on-disk formats (IDX plain/gzip, CIFAR-10/100 binary).
#pragma once
#include <torch/torch.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace closerlook::testing {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/cl_data_test_XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

inline void put_be32(std::string& s, uint32_t v) {
  s.push_back(char((v >> 24) & 0xff));
  s.push_back(char((v >> 16) & 0xff));
  s.push_back(char((v >> 8) & 0xff));
  s.push_back(char(v & 0xff));
}

inline void write_bytes(const std::string& path, const std::string& bytes, bool gz) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
}

// images: uint8 (N, rows, cols)
inline std::string idx_images_bytes(const torch::Tensor& images, uint32_t magic = 0x00000803) {
  std::string s;
  put_be32(s, magic);
  put_be32(s, uint32_t(images.size(0)));
  put_be32(s, uint32_t(images.size(1)));
  put_be32(s, uint32_t(images.size(2)));
  auto c = images.contiguous();
  s.append(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), size_t(c.numel()));
  return s;
}

inline std::string idx_labels_bytes(const torch::Tensor& labels, uint32_t magic = 0x00000801) {
  std::string s;
  put_be32(s, magic);
  put_be32(s, uint32_t(labels.size(0)));
  auto c = labels.to(torch::kUInt8).contiguous();
  s.append(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), size_t(c.numel()));
  return s;
}

// A small IDX dataset (train + t10k) in `dir`, gzipped or plain. Returns the raw tensors.
struct IdxFixture {
  torch::Tensor train_images, train_labels, test_images, test_labels;  // uint8
};
inline IdxFixture write_idx_dataset(const std::string& dir, int64_t ntrain, int64_t ntest, bool gz, int64_t side = 28) {
  IdxFixture f;
  torch::manual_seed(7);
  f.train_images = torch::randint(0, 256, {ntrain, side, side}, torch::kInt64).to(torch::kUInt8);
  f.train_labels = torch::randint(0, 10, {ntrain}, torch::kInt64).to(torch::kUInt8);
  f.test_images = torch::randint(0, 256, {ntest, side, side}, torch::kInt64).to(torch::kUInt8);
  f.test_labels = torch::randint(0, 10, {ntest}, torch::kInt64).to(torch::kUInt8);
  const std::string ext = gz ? ".gz" : "";
  write_bytes(dir + "/train-images-idx3-ubyte" + ext, idx_images_bytes(f.train_images), gz);
  write_bytes(dir + "/train-labels-idx1-ubyte" + ext, idx_labels_bytes(f.train_labels), gz);
  write_bytes(dir + "/t10k-images-idx3-ubyte" + ext, idx_images_bytes(f.test_images), gz);
  write_bytes(dir + "/t10k-labels-idx1-ubyte" + ext, idx_labels_bytes(f.test_labels), gz);
  return f;
}

// CIFAR records: [coarse] label, then 3072 CHW bytes. images uint8 (N,3,32,32).
inline std::string cifar_bytes(const torch::Tensor& images, const torch::Tensor& labels,
                               const torch::Tensor& coarse = torch::Tensor()) {
  std::string s;
  auto img = images.contiguous();
  for (int64_t i = 0; i < images.size(0); ++i) {
    if (coarse.defined()) s.push_back(char(coarse[i].item<int64_t>()));
    s.push_back(char(labels[i].item<int64_t>()));
    s.append(reinterpret_cast<const char*>(img[i].data_ptr<uint8_t>()), 3072);
  }
  return s;
}

}  // namespace closerlook::testing
