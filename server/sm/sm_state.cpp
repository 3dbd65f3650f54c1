#include "server/sm/sm_state.hpp"

#include "protocol/text.hpp"

namespace hush::sm {

bool sm_state::sent(shared_bytes bytes, std::int64_t now, std::size_t max_unacked, std::size_t max_bytes) {
    if (unacked_.size() >= max_unacked || unacked_bytes_ + bytes->size() > max_bytes) {
        return false;
    }
    unacked_bytes_ += bytes->size();
    unacked_.push_back(unacked_stanza{std::move(bytes), now});
    ++sent_;
    return true;
}

sm_state::ack_result sm_state::acknowledge(std::uint32_t h) {
    // Unsigned arithmetic: the counters wrap at 2^32 (XEP-0198 §5).
    const std::uint32_t newly = h - acked_;
    if (newly > unacked_.size()) {
        return ack_result::too_high;
    }
    for (std::uint32_t i = 0; i < newly; ++i) {
        unacked_bytes_ -= unacked_.front().bytes->size();
        unacked_.pop_front();
    }
    acked_ = h;
    return ack_result::ok;
}

std::deque<unacked_stanza> sm_state::take_unacked() {
    std::deque<unacked_stanza> out;
    out.swap(unacked_);
    acked_ = sent_;
    unacked_bytes_ = 0;
    return out;
}

std::optional<std::uint32_t> parse_h(std::string_view text) { return parse_decimal<std::uint32_t>(text); }

}  // namespace hush::sm
