// TOML configs: the parser, `--set` overrides and the validating reader of a training config
// (data, model and train tables). The input is "<toml>\n\x00<override>\x00<override>...".
#include "core/config.h"
#include "fuzz_common.h"
#include "train/train_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  const size_t cut = all.find('\0');
  const std::string text = all.substr(0, cut);
  std::vector<std::string> overrides;
  for (size_t pos = cut; pos != std::string::npos && pos < all.size();) {
    const size_t next = all.find('\0', pos + 1);
    overrides.push_back(all.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1));
    pos = next;
  }
  closerlook::fuzz::expect_clean("fuzz_toml", [&] {
    nlohmann::json tree = closerlook::parse_toml_string(text, "fuzz.toml");
    for (const auto& o : overrides) closerlook::apply_override(tree, o);
    closerlook::TrainConfig c = closerlook::read_train_config(tree, "fuzz.toml");
    (void)c.hash();
  });
  return 0;
}
