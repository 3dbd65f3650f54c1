#pragma once
// What a policy decides about one stanza.
#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "protocol/outgoing.hpp"

#include "protocol/stanza.hpp"

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

// Work a deciding verdict carries out when — and only when — it takes effect: never for a dry-run policy.
// Storing a held stanza, sending a challenge and recording a try are effects; deciding is not.
class verdict_effect {
public:
    virtual ~verdict_effect() = default;
    // What the effect wants sent (a challenge, an error, a notice) goes into `out`, which the router carries out.
    virtual boost::asio::awaitable<void> apply(const hush::stanza& s, hush::outgoing& out) = 0;
};

struct verdict {
    verdict_kind kind = verdict_kind::pass;
    std::string reason;           // short, for logs and metrics: "blocked-domain", "rate-limit:invites"
    std::string error_condition;  // for defer/reject: an RFC 6120 stanza error condition; empty = default
    std::string error_text;       // optional text for the sender
    std::string error_payload;    // optional application element (XML) inside the <error/>: <retry-after/>
    std::shared_ptr<verdict_effect> effect;  // see verdict_effect; only a deciding (non-pass) verdict's runs
    // The parts of the combined score behind it ("score 12.0 = spamd 9.0 [GTUBE] + bayes 3.0"); empty when no
    // score was taken. Shown in the log, /api/verdicts and the admin page.
    std::string explanation;
    // A passing verdict of the content policy whose score asks for a challenge even where the receiver lets
    // strangers through: the challenge policy after it obliges (not in dry-run).
    bool require_challenge = false;

    static verdict pass() { return {}; }
};

}  // namespace hush::antispim
