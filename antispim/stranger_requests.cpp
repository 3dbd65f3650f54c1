// antispim_service answering its user: the challenge settings (inside jabber:iq:privacy), message requests and
// their release, rejection or report, XEP-0158 form answers, and blocks observed for advice and consensus.
#include "antispim/stranger_service.hpp"

#include <spdlog/spdlog.h>

#include "protocol/text.hpp"

#include "antispim/content_service.hpp"

#include "antispim/documents.hpp"
#include "antispim/stranger_service_internal.hpp"

namespace hush {

namespace asio = boost::asio;
namespace as = antispim;
namespace docs = antispim_documents;

namespace {

constexpr std::string_view privacy_ns = "jabber:iq:privacy";

}  // namespace

// ---- settings and message requests (the privacy query, ad-hoc commands) ---------------------------------------

asio::awaitable<bool> antispim_service::set_settings(const jid& user, const as::challenge_settings& settings) {
    auto old = co_await receiver(user);
    // A new question or new answers: a new key, so old secrets and approvals stop working (the seed's advice
    // against a question that leaked).
    const bool rotate = !old || old->settings.kind != settings.kind || old->settings.question != settings.question ||
                        old->settings.good_answers != settings.good_answers ||
                        old->settings.wrong_answers != settings.wrong_answers;
    auto save = [d = user.domain(), u = user.node(), settings, rotate](storage::store& s) -> storage::result<void> {
        if (auto stored = docs::put_settings(s, d, u, settings); !stored) {
            return stored;
        }
        return rotate ? docs::rotate_key(s, d, u) : storage::result<void>{};
    };
    if (auto saved = co_await store_.run(std::move(save)); !saved) {
        spdlog::error("antispim: cannot save the settings of {}: {}", user.bare_string(), saved.error().message);
        co_return false;
    }
    spdlog::info("antispim: {} changed the challenge settings{}", user.bare_string(),
                 rotate ? " (new question: new key, old secrets and approvals revoked)" : "");
    co_return true;
}

asio::awaitable<hush::expected<std::vector<antispim_documents::message_request>, std::string>>
antispim_service::message_requests(const jid& user) {
    auto list = [d = user.domain(), u = user.node(), now = unix_seconds(as::clock_type::now()),
                 expiry = held_expiry_seconds()](storage::store& s) { return docs::list_requests(s, d, u, now, expiry); };
    auto found = co_await store_.run(std::move(list));
    if (!found) {
        co_return hush::unexpected<std::string>(found.error().message);
    }
    co_return std::move(*found);
}

asio::awaitable<void> antispim_service::learn_reported(const jid& user, const std::string& sender_bare,
                                                       const std::vector<reported_stanza_id>& stanza_ids) {
    if (!learner_) {
        co_return;
    }
    std::vector<std::string> texts;
    {
        std::lock_guard lock(engine_mutex_);
        const std::string key = user.bare_string() + " " + sender_bare;
        if (auto* found = delivered_texts_.find(key)) {
            texts = std::move(*found);
            delivered_texts_.erase(key);
        }
    }
    for (auto& text : texts) {
        learner_(true, std::move(text));  // what its receiver read, then reported as spam
    }
    // The reported messages themselves, from the reporter's own archive: only ids it stamped (by = the reporter),
    // only messages that came from the reported sender, never an encrypted one's fallback text.
    storage::archive_query query;
    query.with = sender_bare;
    for (const auto& id : stanza_ids) {
        const auto value = parse_decimal<std::int64_t>(id.id);
        if (id.by == user.bare_string() && value && query.ids.size() < max_reported_ids) {
            query.ids.push_back(*value);
        }
    }
    if (query.ids.empty()) {
        co_return;
    }
    query.max = query.ids.size();
    auto read = [d = user.domain(), u = user.node(), query](storage::store& s) { return s.query_archive(d, u, query); };
    auto page = co_await store_.read(std::move(read));
    if (!page) {
        spdlog::warn("antispim: cannot read the reported messages of {}: {}", user.bare_string(), page.error().message);
        co_return;
    }
    for (const auto& item : page->items) {
        if (item.direction != storage::archive_direction::incoming || item.with != sender_bare) {
            continue;
        }
        const stanza s = stanza::parse(item.stanza);
        if (!s.valid() || as::content_service::encrypted(s)) {
            continue;
        }
        if (std::string body = s.element().child_value("body"); !body.empty()) {
            learner_(true, std::move(body));
        }
    }
}

asio::awaitable<hush::expected<std::size_t, std::string>> antispim_service::resolve_request(
    const jid& user, const std::string& sender_bare, request_action action, outgoing& out) {
    if (action == request_action::release) {
        auto approve = [d = user.domain(), u = user.node(), sender_bare](storage::store& s) {
            return docs::approve(s, d, u, sender_bare);
        };
        if (auto approved = co_await store_.run(std::move(approve)); !approved) {
            co_return hush::unexpected<std::string>(approved.error().message);
        }
        std::vector<std::string> texts;
        const std::size_t delivered = co_await deliver_held(user, sender_bare, out, &texts, true);
        for (auto& text : texts) {
            if (learner_) {
                learner_(false, std::move(text));  // its receiver read it and let it in
            }
        }
        co_return delivered;
    }
    auto take = [d = user.domain(), u = user.node(), sender_bare, now = unix_seconds(as::clock_type::now()),
                 expiry = held_expiry_seconds(), block = action == request_action::report](storage::store& s)
        -> storage::result<std::vector<std::string>> {
        auto held = docs::take_held(s, d, u, sender_bare, now, expiry);
        if (!held) {
            return hush::unexpected<storage::error>(held.error());
        }
        if (block) {
            as::sender_state blocked;
            blocked.blocked = true;
            if (auto stored = docs::put_state(s, d, u, sender_bare, blocked); !stored) {
                return hush::unexpected<storage::error>(stored.error());
            }
        }
        std::vector<std::string> xml;
        for (auto& item : *held) {
            xml.push_back(std::move(item.xml));
        }
        return xml;
    };
    auto taken_xml = co_await store_.run(std::move(take));
    if (!taken_xml) {
        co_return hush::unexpected<std::string>(taken_xml.error().message);
    }
    // Its receiver read it and refused it: spam, for the content filter.
    for (const auto& xml : *taken_xml) {
        if (const stanza held = stanza::parse(xml); learner_ && held.valid() && held.kind() == stanza_kind::message) {
            learner_(true, held.element().child_value("body"));
        }
    }
    const std::size_t count = taken_xml->size();
    spdlog::info("antispim: {} {} the message request of {} ({} held stanza(s) discarded)", user.bare_string(),
                 action == request_action::report ? "reported" : "rejected", sender_bare, count);
    if (action == request_action::report && count > 0) {
        // Its receiver read what it sent and called it spam: evidence about its service. Only for a sender that
        // wrote: reporting names nobody wrote with would let one account make any service suspect.
        judged_spam(sender_bare);
    }
    if (action == request_action::report && consensus_ != nullptr) {
        if (auto reported = jid::parse(sender_bare)) {
            spam_report_payload report;
            report.reason = std::string(reporting_spam);
            report.texts.push_back({"en", "reported from the message requests (" + std::to_string(count) +
                                              " held stanza(s))"});
            co_await consensus_->report(user, *reported, report, out);
        }
    }
    co_return count;
}

// ---- iq: settings and form answers --------------------------------------------------------------------------------

asio::awaitable<std::optional<stanza>> antispim_service::handle_iq(const stanza& iq, const jid& addressed, outgoing& out) {
    if (!addressed.has_node()) {
        co_return std::nullopt;
    }
    const auto requester = jid::parse(iq.from());
    if (!requester) {
        co_return std::nullopt;
    }
    // Blocking someone who passed the challenge: the question was probably too easy (seed: "advise the user").
    // Only observed here; the blocking command itself is the IM core's.
    // Each block is also a vote for user consensus, and an XEP-0377 report inside it is kept for the admins.
    if (auto block = iq.child("block", "urn:xmpp:blocking"); block && iq.type() == "set" &&
        requester->equals_bare(addressed)) {
        for (auto item : block.children("item")) {
            auto blocked = jid::parse(item.attribute("jid").value());
            if (!blocked || !blocked->has_node()) {
                continue;
            }
            co_await advise_if_passed(addressed, blocked->bare_string(), out);
            if (consensus_ == nullptr) {
                continue;
            }
            if (auto report = parse_spam_report(item)) {
                if (report->reason == reporting_spam) {
                    co_await learn_reported(addressed, blocked->bare_string(), report->stanza_ids);
                }
                co_await consensus_->report(addressed, blocked->bare(), *report, out);
            } else {
                co_await consensus_->vote(addressed, blocked->bare(), "block", out);
            }
        }
        co_return std::nullopt;
    }
    // XEP-0158 answer: <iq type='set' to='bob@example.org'><captcha xmlns='urn:xmpp:captcha'><x type='submit'/>.
    if (auto captcha = iq.child("captcha", as::captcha_ns)) {
        if (iq.type() != "set") {
            co_return make_error_reply(iq, "bad-request");
        }
        auto submitted = as::parse_captcha_answer(captcha);
        if (!submitted) {
            co_return make_error_reply(iq, "bad-request", "expected a submitted captcha form with 'challenge' and 'qa'");
        }
        // The same answers for a missing account as for an existing one (its challenges live in memory).
        auto record = co_await load_record(addressed, requester->bare_string());
        if (!record) {
            co_return make_error_reply(iq, "internal-server-error", error_type::wait, "try again later");
        }
        if (record->state.challenge_id != submitted->first) {
            co_return make_error_reply(iq, "item-not-found", "no such challenge (it may have been replaced)");
        }
        const auto outcome = co_await answer(addressed, *requester, submitted->second, iq, out);
        using kind = as::answer_outcome::kind;
        if (outcome.what == kind::pass) {
            co_return make_iq_result(iq);
        }
        if (outcome.what == kind::locked_out) {
            co_return lockout_error(iq, addressed, outcome.until);
        }
        co_return make_error_reply(iq, "not-acceptable", "wrong or too fast; a new challenge is on its way");
    }
    // The owner's settings: <query xmlns='jabber:iq:privacy'><challenge xmlns='urn:hush:antispim:0'/></query>.
    const auto query = iq.child("query", privacy_ns);
    if (!query) {
        co_return std::nullopt;
    }
    pugi::xml_node element;
    for (auto c : query.children("challenge")) {
        if (std::string_view(c.attribute("xmlns").value()) == as::ns) {
            element = c;
        }
    }
    if (!element) {
        co_return std::nullopt;
    }
    if (!requester->equals_bare(addressed)) {
        co_return make_error_reply(iq, "forbidden");
    }
    if (iq.type() == "get") {
        auto view = co_await receiver(addressed);
        if (!view) {
            co_return make_error_reply(iq, "internal-server-error", error_type::wait, "storage unavailable");
        }
        stanza reply = make_iq_result(iq);
        auto q = reply.element().append_child("query");
        q.append_attribute("xmlns").set_value(privacy_ns.data());
        as::append_challenge_settings(q, view->settings);
        co_return reply;
    }
    auto parsed = as::parse_challenge_settings(element);
    if (!parsed) {
        co_return make_error_reply(iq, "bad-request", parsed.error());
    }
    if (!co_await set_settings(addressed, *parsed)) {
        co_return make_error_reply(iq, "internal-server-error", error_type::wait, "storage unavailable");
    }
    co_return make_iq_result(iq);
}

}  // namespace hush
