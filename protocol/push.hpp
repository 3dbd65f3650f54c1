#pragma once
// XEP-0357 Push Notifications, the payloads: a client's <enable/> and <disable/> (one parser each), and the
// notification a server publishes to the client's app server (one serializer).
#include <optional>
#include <string>

#include <pugixml.hpp>

#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"

namespace hush::push {

inline constexpr std::string_view push_ns = "urn:xmpp:push:0";
inline constexpr std::string_view summary_form = "urn:xmpp:push:summary";

// <enable jid='…' node='…'>[publish-options form]</enable>
struct enable_request {
    jid service;
    std::string node;
    std::string publish_options;  // the client's data form (type submit), serialized; may be empty
};
std::optional<enable_request> parse_enable(pugi::xml_node enable);

// <disable jid='…' [node='…']/>: without a node, every registration with that service.
struct disable_request {
    jid service;
    std::optional<std::string> node;
};
std::optional<disable_request> parse_disable(pugi::xml_node disable);

// What the summary says (XEP-0357 §7): each optional field only when the server is configured to tell it.
struct summary {
    std::size_t message_count = 1;
    std::optional<std::string> last_sender;  // the bare JID
    std::optional<std::string> last_body;
};

// What an app server's answer to a notification says (XEP-0357 §8): a result; an error of type 'wait' (try again
// later: the registration stays); any other error (item-not-found, forbidden, service-unavailable...): the
// registration is gone.
enum class answer_kind { accepted, try_later, gone };
answer_kind answer_of(const stanza& iq);

// The iq set publishing `what` to `node` at `service`, from the account, with the client's publish-options.
stanza notification(const jid& account, const enable_request& registration, const summary& what, std::string id);

}  // namespace hush::push
