#pragma once
// Helpers for the config unit tests: each test writes a TOML snippet to a per-process directory and loads it.
#include <doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "server/config/config.hpp"

namespace hush::config_testing {

namespace fs = std::filesystem;
using hush::config;
using hush::load_config;

// A fresh directory per process; each test writes its snippet to <dir>/conf/<name>.toml.
inline const fs::path& test_dir() {
    static const fs::path dir = [] {
        fs::path d = fs::temp_directory_path() / ("hush_config_test_" + std::to_string(::getpid()));
        fs::remove_all(d);
        fs::create_directories(d / "conf");
        return d;
    }();
    return dir;
}

inline fs::path write(const std::string& name, const std::string& text) {
    const fs::path path = test_dir() / "conf" / (name + ".toml");
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
}

inline config load_ok(const std::string& text) {
    const fs::path path = write("ok", text);
    auto result = load_config(path);
    INFO((result ? std::string() : result.error()));
    REQUIRE(result.has_value());
    return *result;
}

// The full error line for `text`; the file part is checked here and stripped.
inline std::string load_error(const std::string& text) {
    const fs::path path = write("bad", text);
    auto result = load_config(path);
    REQUIRE_FALSE(result.has_value());
    const std::string prefix = path.string() + ":";
    REQUIRE(result.error().starts_with(prefix));
    return result.error().substr(prefix.size());
}

}  // namespace hush::config_testing
