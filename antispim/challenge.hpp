#pragma once
// The Bot Challenge (docs/antispim.md; the 2005 "privacy2 anti-SPIM" proposal, steps a–s): by default a fresh number
// to type for every challenge, or a receiver's own question with good and wrong answers, shown to strangers as a
// random subset in random order; answers faster than a human
// could give them or wrong answers cost a try; after max_tries a lockout that any further stanza resets and that
// grows from one lockout to the next; after `steps` lockouts the sender is blocked. A passed sender is approved
// and gets a secret (an HMAC of its bare JID under the receiver's challenge key) that lets later stanzas through.
//
// Pure logic on values, with the clock and the random source passed in: no I/O, no storage.
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "antispim/challenge_settings.hpp"
#include "protocol/expected.hpp"

namespace hush::antispim {

inline constexpr std::string_view ns = "urn:hush:antispim:0";
inline constexpr std::string_view captcha_ns = "urn:xmpp:captcha";

using clock_type = std::chrono::system_clock;
using time_point = clock_type::time_point;

std::string_view stranger_mode_name(stranger_mode mode);
std::optional<stranger_mode> parse_stranger_mode(std::string_view text);
std::string_view challenge_kind_name(challenge_kind kind);
std::optional<challenge_kind> parse_challenge_kind(std::string_view text);

// Parses <challenge/> (attributes and children as in docs/antispim.md). Errors name what is wrong.
hush::expected<challenge_settings, std::string> parse_challenge_settings(pugi::xml_node element);
// Appends <challenge xmlns='urn:hush:antispim:0' …/> to `parent`.
pugi::xml_node append_challenge_settings(pugi::xml_node parent, const challenge_settings& settings);

// One sender as seen by one receiver.
struct sender_state {
    std::string challenge_id;          // the outstanding challenge; empty when none
    std::vector<std::string> offered;  // kind question: its answers, in the order shown (1-based numbers in the text)
    std::string code;                  // kind code: the digits to type
    time_point challenged_at{};
    unsigned tries = 0;     // failed answers since the last challenge round started
    unsigned lockouts = 0;  // lockouts so far (the next one is longer)
    time_point locked_until{};
    bool blocked = false;
    std::string approved_key;  // key id the sender was approved under; empty when not approved

    bool operator==(const sender_state&) const = default;
};

std::string serialize_sender_state(const sender_state& state);
hush::expected<sender_state, std::string> parse_sender_state(std::string_view xml);

// What to do about a stanza from a stranger that is not an answer.
struct stranger_outcome {
    enum class kind { challenge, resend, locked_out, blocked } what = kind::challenge;
    time_point until{};  // locked_out
};

// What an answer led to.
struct answer_outcome {
    enum class kind { pass, wrong, too_fast, locked_out, blocked, no_challenge } what = kind::no_challenge;
    time_point until{};  // locked_out
};

class challenge_engine {
public:
    explicit challenge_engine(std::uint64_t seed) : rng_(seed) {}

    // A stranger's stanza that is no answer (steps 3a–c, j–k). A new challenge replaces the outstanding one
    // unless that one is younger than `resend_after` (then the same challenge stands: `resend`). During a lockout
    // the lockout starts over (seed step k) — a sender that keeps trying never gets in.
    stranger_outcome on_stanza(sender_state& state, const challenge_settings& settings, time_point now,
                               std::chrono::seconds resend_after = std::chrono::seconds{60});

    // Whether `text` answers the outstanding challenge: for a question, a number of an offered answer or the text of
    // one; for a code, a reply of digits only (spaces and punctuation between them allowed, at most 32 characters).
    // Anything else is a message, held like the first one, and costs no try.
    static bool looks_like_answer(const sender_state& state, std::string_view text);

    // An answer (steps d–i, n–q). `key_id` identifies the receiver's current key: a pass records it.
    answer_outcome on_answer(sender_state& state, const challenge_settings& settings, time_point now,
                             std::string_view answer, const std::string& key_id);

    // A fresh challenge: a new id and a new code, or a random subset of the answers (with at least one good answer)
    // in random order, different from the last one shown where the answers allow it.
    void new_challenge(sender_state& state, const challenge_settings& settings, time_point now);

private:
    void new_id(sender_state& state, time_point now);

    std::mt19937_64 rng_;
};

// How long lockout number `n` (1-based) lasts.
std::chrono::minutes lockout_length(const challenge_settings& settings, unsigned n);

// Appends the XEP-0158 form (<captcha xmlns='urn:xmpp:captcha'><x type='form'>…) for the outstanding challenge: a
// `qa` field labelled with `question` (challenge_question() in the stranger's language), text-single for a code,
// list-single with the offered answers for a question.
void append_captcha_form(pugi::xml_node message, const std::string& receiver, const sender_state& state,
                         std::string_view question);

// The answer in an XEP-0158 submission (<captcha><x type='submit'>): (challenge id, chosen value).
std::optional<std::pair<std::string, std::string>> parse_captcha_answer(pugi::xml_node captcha);

// The secret a passed sender gets: hex(HMAC-SHA256(key, sender bare JID)), 32 hex digits.
std::string sender_secret(std::string_view key, std::string_view sender_bare);
bool secret_matches(std::string_view key, std::string_view sender_bare, std::string_view presented);

// RFC 3339 UTC, seconds precision: "2026-11-23T21:00:00Z".
std::string format_utc(time_point t);

// <retry-after xmlns='urn:hush:antispim:0' until='…'/>: when a refused sender may try again (lockouts, rate limits),
// for an error's payload or a notice.
std::string retry_after_payload(time_point until);

}  // namespace hush::antispim
