#pragma once
// One session's XEP-0198 state: what it has handled of the client's stanzas (the `h` it reports), what it has sent
// and the client acknowledged, and the sent stanzas not acknowledged yet — kept, bounded, to be sent again on
// resumption or rerouted when the session ends.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "server/stream/session.hpp"

namespace hush::sm {

inline constexpr std::string_view sm_ns = "urn:xmpp:sm:3";

struct unacked_stanza {
    shared_bytes bytes;
    std::int64_t queued_at = 0;  // unix seconds, for the delay stamp of a message rerouted later
};

class sm_state {
public:
    enum class ack_result { ok, too_high };

    bool enabled() const { return enabled_; }
    bool resumable() const { return !id_.empty(); }
    const std::string& id() const { return id_; }
    // Turns counting on; `id` non-empty when the session may be resumed.
    void enable(std::string id) {
        enabled_ = true;
        id_ = std::move(id);
    }

    // The client's stanzas handled so far (mod 2^32, as XEP-0198 counts).
    std::uint32_t handled() const { return handled_; }
    void count_handled() { ++handled_; }

    // A stanza sent to the client: kept until acknowledged. False when the queue is full — `max_unacked` stanzas
    // or `max_bytes` — (the caller ends the session: a client that never acknowledges would have the server keep
    // everything).
    bool sent(shared_bytes bytes, std::int64_t now, std::size_t max_unacked, std::size_t max_bytes);
    std::uint32_t sent_count() const { return sent_; }
    // The client's <a h=.../> (or the h of its <resume/>): drops what it acknowledges. too_high when it claims more
    // than was sent (XEP-0198 §4: a stream error).
    ack_result acknowledge(std::uint32_t h);
    std::uint32_t acknowledged() const { return acked_; }
    const std::deque<unacked_stanza>& unacked() const { return unacked_; }
    std::deque<unacked_stanza> take_unacked();
    std::size_t unacked_bytes() const { return unacked_bytes_; }

private:
    bool enabled_ = false;
    std::string id_;
    std::uint32_t handled_ = 0;
    std::uint32_t sent_ = 0;
    std::uint32_t acked_ = 0;
    std::deque<unacked_stanza> unacked_;  // sent_ - acked_ of them, oldest first
    std::size_t unacked_bytes_ = 0;
};

// h='...' as XEP-0198 writes it: a decimal unsigned 32-bit number; nullopt for anything else.
std::optional<std::uint32_t> parse_h(std::string_view text);

}  // namespace hush::sm
