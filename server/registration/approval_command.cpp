#include "server/registration/approval_command.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "protocol/adhoc.hpp"
#include "protocol/namespaces.hpp"
#include "protocol/scram.hpp"
#include "protocol/xep0082.hpp"

namespace hush {

namespace {

constexpr std::string_view commands_ns = "http://jabber.org/protocol/commands";
constexpr std::string_view data_ns = "jabber:x:data";
constexpr std::size_t max_sessions = 100;
constexpr std::chrono::minutes session_lifetime{10};

pugi::xml_node command_reply(stanza& reply, const std::string& session, const char* status) {
    auto c = reply.element().append_child("command");
    c.append_attribute("xmlns").set_value(std::string(commands_ns).c_str());
    c.append_attribute("node").set_value(std::string(approval_command::node).c_str());
    c.append_attribute("sessionid").set_value(session.c_str());
    c.append_attribute("status").set_value(status);
    return c;
}

}  // namespace

approval_command::approval_command(const config& cfg, storage::async_store& store) : cfg_(cfg), store_(store) {}

std::string approval_command::open_session(const std::string& admin) {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(sessions_, [&](const auto& s) { return now - s.second.second > session_lifetime; });
    if (sessions_.size() >= max_sessions) {
        sessions_.erase(sessions_.begin());
    }
    const std::string id = sasl::random_hex(12);
    sessions_[id] = {admin, now};
    return id;
}

bool approval_command::take_session(const std::string& id, const std::string& admin) {
    std::lock_guard lock(mutex_);
    const auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second.first != admin ||
        std::chrono::steady_clock::now() - it->second.second > session_lifetime) {
        return false;
    }
    sessions_.erase(it);
    return true;
}

boost::asio::awaitable<std::optional<stanza>> approval_command::handle_iq(const stanza& iq, const jid& addressed,
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
    const std::string admin = requester ? requester->bare_string() : std::string();
    if (!requester || !requester->has_node() || requester->domain() != addressed.domain() ||
        std::find(cfg_.admins.begin(), cfg_.admins.end(), admin) == cfg_.admins.end()) {
        co_return make_error_reply(iq, "forbidden", "this command is for the server's administrators");
    }
    const std::string session = command.attribute("sessionid").value();
    const std::string_view action = command.attribute("action").value();
    if (action == "cancel") {
        take_session(session, admin);
        stanza reply = make_iq_result(iq);
        command_reply(reply, session, "canceled");
        co_return reply;
    }
    pugi::xml_node form;
    for (auto x : command.children("x")) {
        if (data_ns == x.attribute("xmlns").value() && std::string_view(x.attribute("type").value()) == "submit") {
            form = x;
        }
    }
    if (session.empty() || !form) {
        co_return co_await list(iq, admin);
    }
    if (!take_session(session, admin)) {
        stanza reply =
            make_error_reply(iq, "bad-request", "this session expired or is not yours; run the command again");
        auto e = reply.element().child("error").append_child("bad-sessionid");
        e.append_attribute("xmlns").set_value(std::string(commands_ns).c_str());
        co_return reply;
    }
    co_return co_await decide(iq, admin, form);
}

boost::asio::awaitable<stanza> approval_command::list(const stanza& iq, const std::string& admin) {
    auto query = [](storage::store& s) { return s.list_pending_accounts(); };
    auto pending = co_await store_.read(std::move(query));
    if (!pending) {
        spdlog::error("approval command: listing pending accounts failed: {}", pending.error().message);
        co_return make_error_reply(iq, "internal-server-error");
    }
    stanza reply = make_iq_result(iq);
    if (pending->empty()) {
        auto c = command_reply(reply, sasl::random_hex(12), "completed");
        adhoc::add_note(c, "info", "No account is waiting for approval.");
        co_return reply;
    }
    auto c = command_reply(reply, open_session(admin), "executing");
    auto actions = c.append_child("actions");
    actions.append_attribute("execute").set_value("complete");
    actions.append_child("complete");
    auto x = c.append_child("x");
    x.append_attribute("xmlns").set_value(std::string(data_ns).c_str());
    x.append_attribute("type").set_value("form");
    x.append_child("title").append_child(pugi::node_pcdata).set_value(std::string(name).c_str());
    const std::string instructions = std::to_string(pending->size()) + " account(s) waiting" +
                                     (pending->size() > max_listed ? "; the oldest " + std::to_string(max_listed) +
                                                                         " are listed" : std::string()) +
                                     ". Approved accounts can log in; denied ones are deleted.";
    x.append_child("instructions").append_child(pugi::node_pcdata).set_value(instructions.c_str());
    for (const char* var : {"approve", "deny"}) {
        auto f = x.append_child("field");
        f.append_attribute("var").set_value(var);
        f.append_attribute("type").set_value("list-multi");
        f.append_attribute("label").set_value(std::string_view(var) == "approve" ? "Approve" : "Deny (delete)");
        std::size_t n = 0;
        for (const auto& p : *pending) {
            if (n++ == max_listed) {
                break;
            }
            const std::string account = p.username + "@" + p.domain;
            const std::string label = account + " (" + xep0082_stamp(p.requested_at) + ", from " + p.address + ")";
            auto o = f.append_child("option");
            o.append_attribute("label").set_value(label.c_str());
            o.append_child("value").append_child(pugi::node_pcdata).set_value(account.c_str());
        }
    }
    co_return reply;
}

boost::asio::awaitable<stanza> approval_command::decide(const stanza& iq, const std::string& admin,
                                                        pugi::xml_node form) {
    const auto approve = adhoc::form_values(form, "approve");
    const auto deny = adhoc::form_values(form, "deny");
    for (const auto& a : approve) {
        if (std::find(deny.begin(), deny.end(), a) != deny.end()) {
            co_return make_error_reply(iq, "bad-request", a + " is both approved and denied");
        }
    }
    std::vector<std::pair<jid, bool>> decisions;  // account, approve
    for (const auto* values : {&approve, &deny}) {
        for (const auto& v : *values) {
            const auto who = jid::parse(v);
            if (!who || !who->has_node() || !who->is_bare()) {
                co_return make_error_reply(iq, "bad-request", "'" + v + "' is not an account");
            }
            decisions.emplace_back(*who, values == &approve);
        }
    }
    auto apply = [decisions](storage::store& s) -> storage::result<std::pair<int, int>> {
        std::pair<int, int> done{0, 0};
        for (const auto& [who, yes] : decisions) {
            auto r = yes ? s.approve_pending(who.domain(), who.node()) : s.deny_pending(who.domain(), who.node());
            if (!r) {
                return hush::unexpected(r.error());
            }
            (yes ? done.first : done.second) += *r ? 1 : 0;
        }
        return done;
    };
    auto done = co_await store_.run(std::move(apply));
    if (!done) {
        spdlog::error("approval command: {} failed: {}", admin, done.error().message);
        co_return make_error_reply(iq, "internal-server-error");
    }
    spdlog::info("approval command: {} approved {} and denied {} account(s)", admin, done->first, done->second);
    stanza reply = make_iq_result(iq);
    auto c = command_reply(reply, iq.child("command", commands_ns).attribute("sessionid").value(), "completed");
    adhoc::add_note(c, "info", "Approved " + std::to_string(done->first) + ", denied " + std::to_string(done->second) + ".");
    co_return reply;
}

}  // namespace hush
