#pragma once
// PLACEHOLDER until the caps-cache branch merges: the API the engine uses.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"

namespace hush {

class caps_cache {
public:
    using feature_set = std::vector<std::string>;  // sorted
    struct announced {
        std::string node;
        std::string ver;
        std::string hash;
    };
    std::optional<announced> announce(const jid& full, const stanza& presence);
    std::shared_ptr<const feature_set> features(const jid& full) const;
    bool learn(const jid& full, const stanza& disco_result);
    void forget(const jid& full);
    std::vector<jid> wanting(const jid& bare, std::string_view node) const;
};

}  // namespace hush
