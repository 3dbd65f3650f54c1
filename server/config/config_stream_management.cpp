// The [stream_management] and [push] sections: XEP-0198 acks and resumption (docs/stream-management.md) and
// XEP-0357 notifications (docs/push.md) — what keeps phones up to date.
#include "server/config/config_stream_management.hpp"

namespace hush::config_detail {

void load_stream_management(toml_reader& reader, const toml::table& root, config& c) {
    const toml::table* t = reader.section(root, "stream_management");
    if (!t) {
        return;
    }
    constexpr std::string_view p = "stream_management";
    auto& o = c.stream_management;
    reader.check_keys(*t, p,
                      {"enabled", "resume_timeout", "max_unacked", "max_unacked_bytes", "ack_after_stanzas", "ack_after",
                       "ack_timeout", "max_detached", "max_detached_per_account"});
    reader.read_bool(*t, p, "enabled", o.enabled);
    reader.read_seconds(*t, p, "resume_timeout", o.resume_timeout);
    reader.read_int(*t, p, "max_unacked", o.max_unacked, 10, 100000);
    if (const toml::node* bytes = reader.read_int(*t, p, "max_unacked_bytes", o.max_unacked_bytes, 16 * 1024,
                                                  1024 * 1024 * 1024);
        bytes && o.max_unacked_bytes > c.limits.max_outbox_bytes / 2) {
        reader.fail(bytes->source(), "stream_management.max_unacked_bytes",
                    "must be at most half of limits.max_outbox_bytes (" +
                        std::to_string(c.limits.max_outbox_bytes / 2) +
                        "): on resumption all of it is sent again at once");
    }
    reader.read_int(*t, p, "ack_after_stanzas", o.ack_after_stanzas, 1, 1000);
    reader.read_seconds(*t, p, "ack_after", o.ack_after);
    reader.read_seconds(*t, p, "ack_timeout", o.ack_timeout);
    reader.read_int(*t, p, "max_detached", o.max_detached, 1, 10000000);
    reader.read_int(*t, p, "max_detached_per_account", o.max_detached_per_account, 1, 1000);
}

void load_push(toml_reader& reader, const toml::table& root, config& c) {
    const toml::table* t = reader.section(root, "push");
    if (!t) {
        return;
    }
    constexpr std::string_view p = "push";
    auto& o = c.push;
    reader.check_keys(*t, p, {"enabled", "include_sender", "include_body", "max_registrations"});
    reader.read_bool(*t, p, "enabled", o.enabled);
    reader.read_bool(*t, p, "include_sender", o.include_sender);
    reader.read_bool(*t, p, "include_body", o.include_body);
    reader.read_int(*t, p, "max_registrations", o.max_registrations, 1, 100);
}

}  // namespace hush::config_detail
