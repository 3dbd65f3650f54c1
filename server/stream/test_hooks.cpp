#include "server/stream/test_hooks.hpp"

#ifdef HUSH_TEST_HOOKS

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace hush::test_hooks {

namespace {

const std::string& fail_stanza_id() {
    static const std::string id = [] {
        const char* value = std::getenv("HUSH_TEST_FAIL_STANZA_ID");
        return std::string(value != nullptr ? value : "");
    }();
    return id;
}

}  // namespace

void fail_if_marked(std::string_view stanza_id) {
    const auto& marked = fail_stanza_id();
    if (!marked.empty() && stanza_id == marked) {
        throw std::runtime_error("failure injected by HUSH_TEST_FAIL_STANZA_ID for the stanza with id '" + marked +
                                 "'");
    }
}

void announce() {
    if (!fail_stanza_id().empty()) {
        spdlog::warn("test hook on: a client stanza with id '{}' makes its session fail (HUSH_TEST_FAIL_STANZA_ID)",
                     fail_stanza_id());
    }
}

}  // namespace hush::test_hooks

#endif
