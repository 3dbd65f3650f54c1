#pragma once
// What a policy decides about one stanza.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace hush::antispim {

enum class verdict_kind : std::size_t {
    pass,    // deliver (the next policy still looks at it)
    hold,    // keep the stanza and challenge the sender; delivered if the challenge is passed
    defer,   // refuse for now with a temporary error (type 'wait'); the sender may retry later
    reject,  // refuse with a stanza error
    drop,    // discard silently (logged and counted)
};
inline constexpr std::size_t verdict_kind_count = 5;

std::string_view verdict_name(verdict_kind kind);

struct verdict {
    verdict_kind kind = verdict_kind::pass;
    std::string reason;           // short, for logs and metrics: "blocked-domain", "rate-limit:invites"
    std::string error_condition;  // for defer/reject: an RFC 6120 stanza error condition; empty = default
    std::string error_text;       // optional text for the sender

    static verdict pass() { return {}; }
};

}  // namespace hush::antispim
