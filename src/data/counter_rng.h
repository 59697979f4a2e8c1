// Counter-based random streams for data loading. Every stream is keyed by a tuple such as
// (seed, epoch, batch, purpose) through a SplitMix64 hash, so a draw never depends on how many
// draws happened before it elsewhere (unlike torch's global generator): batch i of epoch e is a
// pure function of (seed, e, i), which makes resumed runs and data-parallel ranks see identical data.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <random>

namespace closerlook {

// SplitMix64 finaliser: a bijective, well-mixing 64-bit hash.
inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Hashes an ordered tuple of keys into one seed (order matters: (1,2) != (2,1)).
inline uint64_t mix_keys(std::initializer_list<uint64_t> keys) {
  uint64_t h = 0x243f6a8885a308d3ULL;
  for (uint64_t k : keys) h = mix64(h ^ mix64(k));
  return h;
}

// Purposes, so the permutation and the augmentation of one epoch use unrelated streams.
enum class RngStream : uint64_t { Permutation = 1, Augment = 2, Synthetic = 3 };

// A 64-bit engine for one keyed stream, with a portable bounded draw (std::uniform_int_distribution
// is implementation-defined; this one gives the same numbers with every standard library).
class KeyedRng {
 public:
  explicit KeyedRng(uint64_t key) : eng_(key) {}
  uint64_t next() { return eng_(); }
  // Uniform in [0, n) by Lemire's multiply-shift (bias < n / 2^64, irrelevant here).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(eng_()) * n) >> 64); }

 private:
  std::mt19937_64 eng_;
};

}  // namespace closerlook
