// The router's last step: delivery to this server's sessions by RFC 6121 §8.5's rules.
#include "server/pipeline/router.hpp"

#include "server/im/im_core.hpp"

namespace hush {

namespace {

bool is_subscription_type(std::string_view type) {
    return type == "subscribe" || type == "subscribed" || type == "unsubscribe" || type == "unsubscribed";
}

}  // namespace

router::delivery router::deliver_local(const stanza& s, const jid& to, outgoing& out) {
    const stanza_kind kind = s.kind();
    const std::string_view type = s.type();
    if (!to.is_bare()) {
        if (auto target = sessions_.find(to)) {
            if (kind == stanza_kind::presence) {
                target->deliver_presence(share(s.serialize()), std::string(s.from()));
            } else {
                target->deliver(share(s.serialize()));
            }
            if (im_ != nullptr && kind == stanza_kind::message) {
                im_->received_copies(s, to, {to.resource()}, out);
            }
            return delivery::delivered;
        }
    }
    // To the bare JID, or to a full JID whose resource is gone (RFC 6121 §8.5.3.2).
    if (kind == stanza_kind::iq) {
        // An iq request to a missing resource gets an error; results and errors are dropped.
        return type != "get" && type != "set" ? delivery::delivered : delivery::refused;
    }
    if (kind == stanza_kind::presence) {
        if (!to.is_bare() && !is_subscription_type(type)) {
            return delivery::delivered;  // directed presence to a gone resource is dropped
        }
        const auto bytes = share(s.serialize());
        const std::string presence_from(s.from());
        for (const auto& r : sessions_.resources(to.bare())) {
            if (r.available) {
                r.target->deliver_presence(bytes, presence_from);
            }
        }
        return delivery::delivered;
    }
    // Messages (RFC 6121 §8.5.2 for a bare JID, §8.5.3.2.1 for a full JID whose resource is gone).
    if (type == "error") {
        return delivery::delivered;  // silently ignored
    }
    if (type == "groupchat") {
        return delivery::refused;  // never delivered to a bare JID or a gone resource: <service-unavailable/>
    }
    if (type == "headline") {
        if (!to.is_bare()) {
            return delivery::delivered;  // silently ignored
        }
        // Every available resource with a non-negative priority.
        const auto bytes = share(s.serialize());
        for (const auto& r : sessions_.resources(to.bare())) {
            if (r.available && r.priority >= 0) {
                r.target->deliver(bytes);
            }
        }
        return delivery::delivered;
    }
    // normal and chat: the most available resource(s).
    const auto best = sessions_.best_available(to.bare());
    if (best.empty()) {
        return delivery::no_resource;
    }
    const auto bytes = share(s.serialize());
    std::vector<std::string> delivered_to;
    for (const auto& r : best) {
        r.target->deliver(bytes);
        delivered_to.push_back(r.full.resource());
    }
    if (im_ != nullptr) {
        im_->received_copies(s, to, delivered_to, out);
    }
    return delivery::delivered;
}

}  // namespace hush
