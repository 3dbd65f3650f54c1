#include "server/im/antispim_commands.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <sstream>

#include "protocol/adhoc.hpp"
#include "protocol/namespaces.hpp"
#include "protocol/scram.hpp"

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;

namespace {

constexpr std::string_view data_ns = "jabber:x:data";
constexpr std::size_t max_sessions = 1000;
constexpr std::chrono::minutes session_lifetime{10};


// The <command/> reply: status, sessionid, and the node echoed.
pugi::xml_node command_reply(stanza& reply, std::string_view node, const std::string& session, std::string_view status) {
    auto c = reply.element().append_child("command");
    c.append_attribute("xmlns").set_value(std::string(antispim_commands::commands_ns).c_str());
    c.append_attribute("node").set_value(std::string(node).c_str());
    c.append_attribute("sessionid").set_value(session.c_str());
    c.append_attribute("status").set_value(std::string(status).c_str());
    return c;
}

pugi::xml_node form(pugi::xml_node command, const char* title, const char* instructions) {
    auto actions = command.append_child("actions");
    actions.append_attribute("execute").set_value("complete");
    actions.append_child("complete");
    auto x = command.append_child("x");
    x.append_attribute("xmlns").set_value(std::string(data_ns).c_str());
    x.append_attribute("type").set_value("form");
    x.append_child("title").append_child(pugi::node_pcdata).set_value(title);
    x.append_child("instructions").append_child(pugi::node_pcdata).set_value(instructions);
    return x;
}

pugi::xml_node field(pugi::xml_node x, const char* var, const char* type, const char* label,
                     const std::vector<std::string>& values) {
    auto f = x.append_child("field");
    f.append_attribute("var").set_value(var);
    f.append_attribute("type").set_value(type);
    if (label != nullptr) {
        f.append_attribute("label").set_value(label);
    }
    for (const auto& v : values) {
        f.append_child("value").append_child(pugi::node_pcdata).set_value(v.c_str());
    }
    return f;
}

void option(pugi::xml_node f, const std::string& label, const std::string& value) {
    auto o = f.append_child("option");
    o.append_attribute("label").set_value(label.c_str());
    o.append_child("value").append_child(pugi::node_pcdata).set_value(value.c_str());
}

std::string first(pugi::xml_node x, std::string_view var) {
    auto values = adhoc::form_values(x, var);
    return values.empty() ? std::string() : values.front();
}

// Lines of a text-multi field, trimmed, empty ones dropped.
std::vector<std::string> lines(const std::vector<std::string>& values) {
    std::vector<std::string> out;
    for (const auto& value : values) {
        std::istringstream in(value);
        std::string line;
        while (std::getline(in, line)) {
            const auto b = line.find_first_not_of(" \t\r");
            const auto e = line.find_last_not_of(" \t\r");
            if (b != std::string::npos) {
                out.push_back(line.substr(b, e - b + 1));
            }
        }
    }
    return out;
}

pugi::xml_node submitted_form(pugi::xml_node command) {
    for (auto x : command.children("x")) {
        if (data_ns == x.attribute("xmlns").value() && std::string_view(x.attribute("type").value()) == "submit") {
            return x;
        }
    }
    return {};
}

stanza command_error(const stanza& iq, std::string_view condition, std::string_view specific, std::string_view text) {
    stanza reply = make_error_reply(iq, condition, text);
    if (!specific.empty()) {
        auto e = reply.element().child("error").append_child(std::string(specific).c_str());
        e.append_attribute("xmlns").set_value(std::string(antispim_commands::commands_ns).c_str());
    }
    return reply;
}

}  // namespace

antispim_commands::antispim_commands(antispim_service& service, std::function<bool(std::string_view)> is_local,
                                     std::vector<std::pair<std::string, std::string>> more_commands)
    : service_(service), is_local_(std::move(is_local)), more_commands_(std::move(more_commands)) {}

std::string antispim_commands::open_session(const std::string& node, const jid& user) {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(sessions_, [&](const auto& s) { return now - s.second.started > session_lifetime; });
    if (sessions_.size() >= max_sessions) {
        sessions_.erase(sessions_.begin());
    }
    const std::string id = sasl::random_hex(12);
    sessions_[id] = session_info{node, user.bare_string(), now};
    return id;
}

bool antispim_commands::continue_session(const std::string& id, const std::string& node, const jid& user) {
    std::lock_guard lock(mutex_);
    const auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second.node != node || it->second.user != user.bare_string()) {
        return false;
    }
    sessions_.erase(it);  // two stages: the submission ends it
    return true;
}

asio::awaitable<std::optional<stanza>> antispim_commands::handle_iq(const stanza& iq, const jid& addressed,
                                                                   outgoing& out) {
    if (addressed.has_node()) {
        co_return std::nullopt;
    }
    // XEP-0050 §2.2: the commands listed under the commands node; each command node is described.
    if (iq.type() == "get") {
        if (auto items = iq.child("query", ns::disco_items);
            items && commands_ns == items.attribute("node").value()) {
            stanza reply = make_iq_result(iq);
            auto q = reply.element().append_child("query");
            q.append_attribute("xmlns").set_value(ns::disco_items.data());
            q.append_attribute("node").set_value(std::string(commands_ns).c_str());
            // The requests command says how many wait, so a client's command list shows it at a glance.
            std::string requests_name = "Message requests";
            if (auto requester = jid::parse(iq.from()); requester && requester->has_node() &&
                                                        requester->domain() == addressed.domain()) {
                if (auto waiting = co_await service_.message_requests(requester->bare()); waiting && !waiting->empty()) {
                    requests_name += " (" + std::to_string(waiting->size()) + ")";
                }
            }
            for (const auto& [node, name] : {std::pair{configure_node, std::string("Anti-spam question")},
                                             std::pair{requests_node, requests_name}}) {
                auto item = q.append_child("item");
                item.append_attribute("jid").set_value(addressed.domain().c_str());
                item.append_attribute("node").set_value(std::string(node).c_str());
                item.append_attribute("name").set_value(name.c_str());
            }
            for (const auto& [node, name] : more_commands_) {
                auto item = q.append_child("item");
                item.append_attribute("jid").set_value(addressed.domain().c_str());
                item.append_attribute("node").set_value(node.c_str());
                item.append_attribute("name").set_value(name.c_str());
            }
            co_return reply;
        }
        if (auto info = iq.child("query", ns::disco_info)) {
            const std::string_view node = info.attribute("node").value();
            if (node == configure_node || node == requests_node) {
                co_return adhoc::node_info(iq, node, node == configure_node ? "Anti-spam question" : "Message requests");
            }
        }
        co_return std::nullopt;
    }
    auto command = iq.child("command", commands_ns);
    if (!command || iq.type() != "set") {
        co_return std::nullopt;
    }
    const std::string_view node = command.attribute("node").value();
    if (node != configure_node && node != requests_node) {
        co_return command_error(iq, "item-not-found", "", "no such command");
    }
    const auto requester = jid::parse(iq.from());
    if (!requester || !requester->has_node() || !is_local_(requester->domain()) ||
        requester->domain() != addressed.domain()) {
        co_return command_error(iq, "forbidden", "", "these commands are for this server's own accounts");
    }
    const jid user = requester->bare();
    if (std::string_view(command.attribute("action").value()) == "cancel") {
        continue_session(command.attribute("sessionid").value(), std::string(node), user);
        stanza reply = make_iq_result(iq);
        command_reply(reply, node, command.attribute("sessionid").value(), "canceled");
        co_return reply;
    }
    if (node == configure_node) {
        co_return co_await configure(iq, user, command);
    }
    co_return co_await requests(iq, user, command, out);
}

asio::awaitable<stanza> antispim_commands::configure(const stanza& iq, const jid& user, pugi::xml_node command) {
    const std::string node(configure_node);
    const std::string session = command.attribute("sessionid").value();
    const auto x = submitted_form(command);
    if (session.empty() || !x) {
        auto view = co_await service_.receiver(user);
        if (!view) {
            co_return make_error_reply(iq, "internal-server-error", error_type::wait, "storage unavailable");
        }
        const auto& s = view->settings;
        stanza reply = make_iq_result(iq);
        auto c = command_reply(reply, node, open_session(node, user), "executing");
        auto f = form(c, "Anti-spam question",
                      "People who are not your contacts must answer a question before their messages and "
                      "invitations reach you: by default a number to type, new each time, or your own question. "
                      "Changing the question or the answers lets nobody in who got in before.");
        field(f, "FORM_TYPE", "hidden", nullptr, {"urn:hush:antispim:0#configure"});
        field(f, "enabled", "boolean", "Ask strangers the question", {s.enabled ? "1" : "0"});
        auto mode = field(f, "strangers", "list-single", "Messages from strangers", {std::string(as::stranger_mode_name(s.strangers))});
        option(mode, "Hold them and ask the question", "challenge");
        option(mode, "Let them through", "allow");
        option(mode, "Drop them silently", "drop");
        auto kind = field(f, "kind", "list-single", "What strangers are asked", {std::string(as::challenge_kind_name(s.kind))});
        option(kind, "A number to type, new each time (no bot can guess it)", "code");
        option(kind, "My own question (below)", "question");
        field(f, "question", "text-single", "Your question", {s.question});
        field(f, "good", "text-multi", "Right answers (one per line)", s.good_answers);
        field(f, "wrong", "text-multi", "Wrong answers shown as decoys (one per line)", s.wrong_answers);
        field(f, "min-answer-seconds", "text-single", "Answers faster than this many seconds count as wrong",
              {std::to_string(s.min_answer.count())});
        field(f, "max-tries", "text-single", "Tries before a lockout", {std::to_string(s.max_tries)});
        field(f, "long-interval-minutes", "text-single", "First lockout, in minutes",
              {std::to_string(s.long_interval.count())});
        co_return reply;
    }
    if (!continue_session(session, node, user)) {
        co_return command_error(iq, "bad-request", "bad-sessionid", "unknown or expired session");
    }
    // Build the <challenge/> element from the form, so the one parser validates it.
    auto view = co_await service_.receiver(user);
    pugi::xml_document doc;
    auto e = doc.append_child("challenge");
    const std::string enabled = first(x, "enabled");
    e.append_attribute("enabled").set_value(enabled == "1" || enabled == "true" ? "true" : "false");
    e.append_attribute("strangers").set_value(first(x, "strangers").empty() ? "challenge" : first(x, "strangers").c_str());
    for (const char* attr : {"min-answer-seconds", "max-tries", "long-interval-minutes"}) {
        if (const auto v = first(x, attr); !v.empty()) {
            e.append_attribute(attr).set_value(v.c_str());
        }
    }
    if (view) {
        e.append_attribute("growth").set_value(view->settings.growth);
        e.append_attribute("steps").set_value(view->settings.steps);
        e.append_attribute("offered").set_value(view->settings.offered);
    }
    if (const auto kind = first(x, "kind"); !kind.empty()) {
        e.append_attribute("kind").set_value(kind.c_str());
    }
    if (const auto question = first(x, "question"); !question.empty()) {
        e.append_child("question").append_child(pugi::node_pcdata).set_value(question.c_str());
    }
    for (const auto& a : lines(adhoc::form_values(x, "good"))) {
        auto answer = e.append_child("answer");
        answer.append_attribute("correct").set_value("true");
        answer.append_child(pugi::node_pcdata).set_value(a.c_str());
    }
    for (const auto& a : lines(adhoc::form_values(x, "wrong"))) {
        e.append_child("answer").append_child(pugi::node_pcdata).set_value(a.c_str());
    }
    auto parsed = as::parse_challenge_settings(e);
    if (!parsed) {
        co_return command_error(iq, "bad-request", "bad-payload", parsed.error());
    }
    if (!co_await service_.set_settings(user, *parsed)) {
        co_return make_error_reply(iq, "internal-server-error", error_type::wait, "storage unavailable");
    }
    stanza reply = make_iq_result(iq);
    auto c = command_reply(reply, node, session, "completed");
    adhoc::add_note(c, "info", "Saved.");
    co_return reply;
}

asio::awaitable<stanza> antispim_commands::requests(const stanza& iq, const jid& user, pugi::xml_node command,
                                                    outgoing& out) {
    const std::string node(requests_node);
    const std::string session = command.attribute("sessionid").value();
    const auto x = submitted_form(command);
    if (session.empty() || !x) {
        auto list = co_await service_.message_requests(user);
        if (!list) {
            co_return make_error_reply(iq, "internal-server-error", error_type::wait, "storage unavailable");
        }
        stanza reply = make_iq_result(iq);
        if (list->empty()) {
            auto c = command_reply(reply, node, sasl::random_hex(12), "completed");
            adhoc::add_note(c, "info", "No message requests.");
            co_return reply;
        }
        auto c = command_reply(reply, node, open_session(node, user), "executing");
        auto f = form(c, "Message requests",
                      "Messages and invitations from people who have not answered your anti-spam question yet.");
        field(f, "FORM_TYPE", "hidden", nullptr, {"urn:hush:antispim:0#requests"});
        auto senders = field(f, "senders", "list-multi", "Senders", {});
        for (const auto& request : *list) {
            stanza s = stanza::parse(request.held.front().xml);
            std::string preview = s.valid() ? std::string(s.element().child_value("body")) : std::string();
            if (s.valid() && s.kind() == stanza_kind::presence) {
                preview = "wants to add you as a contact";
            }
            if (preview.size() > 60) {
                preview = preview.substr(0, 57) + "...";
            }
            option(senders, request.sender + " (" + std::to_string(request.held.size()) + "): " + preview,
                   request.sender);
        }
        auto action = field(f, "action", "list-single", "Do", {"release"});
        option(action, "Accept: deliver and let them write", "release");
        option(action, "Reject: discard what they sent", "reject");
        option(action, "Report as spam: discard and block", "report");
        co_return reply;
    }
    if (!continue_session(session, node, user)) {
        co_return command_error(iq, "bad-request", "bad-sessionid", "unknown or expired session");
    }
    const std::string action_name = first(x, "action");
    using action = antispim_service::request_action;
    action what = action::release;
    if (action_name == "reject") {
        what = action::reject;
    } else if (action_name == "report") {
        what = action::report;
    } else if (action_name != "release") {
        co_return command_error(iq, "bad-request", "bad-payload", "action must be release, reject or report");
    }
    std::size_t done = 0;
    std::size_t stanzas = 0;
    for (const auto& sender : adhoc::form_values(x, "senders")) {
        const auto who = jid::parse(sender);
        if (!who) {
            continue;
        }
        auto resolved = co_await service_.resolve_request(user, who->bare_string(), what, out);
        if (!resolved) {
            co_return make_error_reply(iq, "internal-server-error", error_type::wait, "storage unavailable");
        }
        ++done;
        stanzas += *resolved;
    }
    stanza reply = make_iq_result(iq);
    auto c = command_reply(reply, node, session, "completed");
    adhoc::add_note(c, "info",
         std::to_string(done) + " request(s) " +
             (what == action::release ? "accepted, " + std::to_string(stanzas) + " stanza(s) delivered"
                                      : (what == action::reject ? "rejected" : "reported")) + ".");
    co_return reply;
}

}  // namespace hush
