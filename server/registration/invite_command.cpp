#include "server/registration/invite_command.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "protocol/adhoc.hpp"
#include "protocol/namespaces.hpp"
#include "protocol/xep0082.hpp"
#include "server/registration/invites.hpp"

namespace hush {

namespace {

constexpr std::string_view commands_ns = "http://jabber.org/protocol/commands";

void add_value_field(pugi::xml_node x, const char* var, const char* type, const char* label, const std::string& value) {
    auto f = x.append_child("field");
    f.append_attribute("var").set_value(var);
    f.append_attribute("type").set_value(type);
    f.append_attribute("label").set_value(label);
    f.append_child("value").append_child(pugi::node_pcdata).set_value(value.c_str());
}

}  // namespace

invite_command::invite_command(const config& cfg, storage::async_store& store) : cfg_(cfg), store_(store) {}

boost::asio::awaitable<std::optional<stanza>> invite_command::handle_iq(const stanza& iq, const jid& addressed,
                                                                       outgoing&) {
    if (addressed.has_node()) {
        co_return std::nullopt;
    }
    if (iq.type() == "get") {
        co_return adhoc::node_info(iq, node, name);
    }
    auto command = iq.child("command", commands_ns);
    if (!command || iq.type() != "set" || node != command.attribute("node").value()) {
        co_return std::nullopt;
    }
    const auto requester = jid::parse(iq.from());
    if (!requester || !requester->has_node() || requester->domain() != addressed.domain()) {
        co_return make_error_reply(iq, "forbidden", "this command is for this server's own accounts");
    }
    const std::string_view action = command.attribute("action").value();
    if (!action.empty() && action != "execute" && action != "complete") {
        co_return make_error_reply(iq, "bad-request", "this command has one stage: execute it");
    }
    if (cfg_.registration.mode == registration_mode::closed || cfg_.registration.invites_per_user == 0) {
        co_return make_error_reply(iq, "forbidden", "users cannot invite new accounts on this server");
    }
    const std::string inviter = requester->bare_string();
    const std::int64_t now = unix_now();
    auto count = [inviter, now](storage::store& s) { return s.count_live_invites(inviter, now); };
    auto live = co_await store_.read(std::move(count));
    if (!live) {
        spdlog::error("invite command: counting {}'s invites failed: {}", inviter, live.error().message);
        co_return make_error_reply(iq, "internal-server-error");
    }
    if (*live >= static_cast<std::int64_t>(cfg_.registration.invites_per_user)) {
        co_return make_error_reply(iq, "resource-constraint", error_type::wait,
                                   "you have " + std::to_string(*live) +
                                       " unused invitations; wait until they are used or expire");
    }
    invites::invite_request request;
    request.domain = requester->domain();
    request.inviter = inviter;
    request.expires_in_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(cfg_.registration.invite_expiry).count();
    const auto made = invites::make(request, now);
    // Invitations nobody used, long expired, go with each new one: the table stays as small as the quotas.
    auto put = [record = made.record, cutoff = now - invites::dead_after_seconds](storage::store& s)
        -> storage::result<void> {
        if (auto swept = s.delete_dead_invites(cutoff); !swept) {
            return hush::unexpected(swept.error());
        }
        return s.put_invite(record);
    };
    if (auto stored = co_await store_.run(std::move(put)); !stored) {
        spdlog::error("invite command: storing {}'s invite failed: {}", inviter, stored.error().message);
        co_return make_error_reply(iq, "internal-server-error");
    }
    spdlog::info("invite command: {} created invite {}", inviter, invites::id_of(made.record));
    stanza reply = make_iq_result(iq);
    auto c = reply.element().append_child("command");
    c.append_attribute("xmlns").set_value(std::string(commands_ns).c_str());
    c.append_attribute("node").set_value(std::string(node).c_str());
    c.append_attribute("sessionid").set_value(made.record.token_sha256.substr(0, 12).c_str());
    c.append_attribute("status").set_value("completed");
    auto x = c.append_child("x");
    x.append_attribute("xmlns").set_value("jabber:x:data");
    x.append_attribute("type").set_value("result");
    x.append_child("title").append_child(pugi::node_pcdata).set_value("Invitation created");
    add_value_field(x, "uri", "text-single", "Invitation link (open it in an XMPP client)",
                    invites::uri(made.record, made.token));
    if (made.record.expires_at != 0) {
        add_value_field(x, "expire", "text-single", "Valid until", xep0082_stamp(made.record.expires_at));
    }
    co_return reply;
}

}  // namespace hush
