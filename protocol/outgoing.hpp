#pragma once
// What a service wants sent, in the order it decided it. Services called on the stanza path (the IM services,
// the anti-SPIM layer) fill one of these and return; the router then carries it out. So no service holds the
// router, and the router is the one place that routes and delivers.
#include <cstdint>
#include <utility>
#include <vector>

#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"

namespace hush {

enum class outgoing_path : std::uint8_t {
    route,       // the whole pipeline, judged like the user's own stanzas (from/to set)
    unfiltered,  // said or released by the anti-SPIM layer itself: past the chain
    resource,    // written as is to one connected resource of an account (pushes, carbons, own presence);
                 // dropped if that resource is gone by then
};

struct outgoing_stanza {
    outgoing_path path = outgoing_path::route;
    stanza content;
    jid resource;  // path::resource only: the full JID of the session it is written to, whatever `to` says
    // path::route only: the sender the anti-SPIM layer judges instead of `from` — a room's relayed invitation is
    // judged as the inviter the room verified (XEP-0045 §7.8.2), not as the room.
    jid judge_as;
};

class outgoing {
public:
    void route(stanza s) { items_.push_back({outgoing_path::route, std::move(s), {}, {}}); }
    void route_judged_as(stanza s, const jid& sender) {
        items_.push_back({outgoing_path::route, std::move(s), {}, sender});
    }
    void unfiltered(stanza s) { items_.push_back({outgoing_path::unfiltered, std::move(s), {}, {}}); }
    void to_resource(const jid& full, stanza s) { items_.push_back({outgoing_path::resource, std::move(s), full, {}}); }

    // Errors addressed to `to` go to `new_to` instead (an answer about a room's relayed invitation goes to the
    // inviter the room verified, not to the room).
    void readdress_errors(std::string_view to, const std::string& new_to) {
        for (auto& o : items_) {
            if (o.content.is_error() && o.content.to() == to) {
                o.content.set_attribute("to", new_to);
            }
        }
    }

    bool empty() const { return items_.empty(); }
    std::size_t size() const { return items_.size(); }
    const std::vector<outgoing_stanza>& items() const { return items_; }
    // Hands the stanzas over (in order) and leaves this empty.
    std::vector<outgoing_stanza> take() { return std::exchange(items_, {}); }

private:
    std::vector<outgoing_stanza> items_;
};

}  // namespace hush
