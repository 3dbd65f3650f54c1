#pragma once
// A top-level stream element as an owned pugixml tree, with the accessors the router needs, and the
// RFC 6120 stream and stanza error builders.
#include <memory>
#include <string>
#include <utility>
#include <string_view>

#include <pugixml.hpp>

#include "protocol/jid.hpp"

namespace hush {

enum class stanza_kind { message, presence, iq, other };

class stanza {
public:
    stanza() = default;
    // Takes a document whose first child is the element; `ns` is that element's namespace.
    stanza(std::shared_ptr<pugi::xml_document> doc, std::string ns);
    // A new empty element in the content namespace (jabber:client) or `ns`.
    static stanza make(std::string_view name, std::string_view ns = {});
    // Parses a stanza serialized by serialize() (stored stanzas); invalid() on malformed input.
    static stanza parse(std::string_view xml);

    bool valid() const { return doc_ != nullptr; }
    pugi::xml_node element() const { return doc_->first_child(); }
    const std::string& ns() const { return ns_; }  // empty: the stream's content namespace
    std::string_view name() const { return element().name(); }
    stanza_kind kind() const;
    std::string_view type() const { return element().attribute("type").value(); }
    std::string_view id() const { return element().attribute("id").value(); }
    std::string_view to() const { return element().attribute("to").value(); }
    std::string_view from() const { return element().attribute("from").value(); }
    bool is_error() const { return type() == "error"; }

    void set_attribute(const char* name, std::string_view value);
    void remove_attribute(const char* name);

    // A child element by local name and namespace (xmlns attribute), or an empty node.
    pugi::xml_node child(std::string_view name, std::string_view child_ns) const;

    // Serialized once; the same string may go to many recipients.
    std::string serialize() const;
    stanza clone() const;

private:
    std::shared_ptr<pugi::xml_document> doc_;
    std::string ns_;
};

// Escapes text for element content or a quoted attribute value (& < > ' ").
std::string xml_escape(std::string_view text);

// RFC 6120 §4.9.3 stream error conditions used by Hush.
struct stream_error {
    stream_error() = default;
    stream_error(std::string condition_, std::string text_ = {}, std::string app_payload_ = {})
        : condition(std::move(condition_)), text(std::move(text_)), app_payload(std::move(app_payload_)) {}

    std::string condition;  // e.g. "not-well-formed", "policy-violation"
    std::string text;
    std::string app_payload;  // an application-specific condition, serialized (RFC 6120 §4.9.4)
};
std::string serialize_stream_error(const stream_error& error);

// RFC 6120 §8.3 stanza errors.
enum class error_type { auth, cancel, continue_, modify, wait };
std::string_view error_type_name(error_type type);
// The error type RFC 6120 §8.3.3 gives for a condition.
error_type default_error_type(std::string_view condition);

// The error reply to `original`: from/to swapped, type='error', the original payload kept, then
// <error type=...><condition xmlns=stanzas/>[<text/>]</error>. Never call for an error stanza.
stanza make_error_reply(const stanza& original, std::string_view condition, std::string_view text = {});
stanza make_error_reply(const stanza& original, std::string_view condition, error_type type,
                        std::string_view text);

// <iq type='result' id=.. to=.. from=../> for an iq get/set.
stanza make_iq_result(const stanza& request);

// A message a client sends on its own, without the person typing anything: chat states (XEP-0085), receipts
// (XEP-0184), markers (XEP-0333), hints and ids (XEP-0334, XEP-0359), a thread — and no body with text. Never a
// first contact, never an answer.
bool is_automatic_message(const stanza& message);

// A presence's <priority/> (RFC 6121 §4.7.2.3): -128..127, 0 when absent or not a number.
int presence_priority(const stanza& presence);

}  // namespace hush
