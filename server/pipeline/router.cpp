#include "server/pipeline/router.hpp"
#include "protocol/xep0082.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "server/im/im_core.hpp"
#include "server/mam/archiver.hpp"
#include "server/muc/muc_service.hpp"
#include "server/upload/upload_service.hpp"
#include "server/pubsub/pubsub_engine.hpp"
#include "server/registration/registration.hpp"
#include "antispim/recent_verdicts.hpp"

namespace hush {

namespace {

// Stanzas the server itself originates (replies, errors). A function, not a braced temporary inside co_await.
route_origin server_origin() {
    route_origin origin;
    origin.generated = true;
    return origin;
}

// What an error about `s` answers: `s` itself, or — for a room's relayed invitation — the same stanza as the
// inviter's, so the error reaches the person the verdict was about (the room drops errors).
stanza answerable(const stanza& s, const route_origin& origin) {
    if (origin.judge_as.empty()) {
        return s;
    }
    stanza copy = s.clone();
    copy.set_attribute("from", origin.judge_as.full_string());
    return copy;
}

std::string_view stanza_kind_name(stanza_kind kind) {
    switch (kind) {
    case stanza_kind::message: return "message";
    case stanza_kind::presence: return "presence";
    case stanza_kind::iq: return "iq";
    case stanza_kind::other: return "other";
    }
    return "other";
}

}  // namespace

router::router(std::vector<std::string> hosts, session_registry& sessions, account_directory& accounts,
               antispim::chain& chain, iq_handler& handlers, router_links links)
    : hosts_(std::move(hosts)),
      sessions_(sessions),
      accounts_(accounts),
      chain_(chain),
      handlers_(handlers),
      im_(links.im),
      remote_(links.remote),
      strangers_(links.strangers),
      outbound_(links.outbound),
      inboxes_(std::move(links.inboxes)),
      recent_(links.recent),
      mam_(links.mam),
      pubsub_(links.pubsub),
      muc_(links.muc),
      upload_(links.upload) {}

namespace {

bool is_service(const pubsub_engine* pubsub, std::string_view domain) {
    return pubsub != nullptr && !pubsub->service_domain().empty() && pubsub->service_domain() == domain;
}

}  // namespace

bool router::is_local_domain(std::string_view domain) const {
    return std::find(hosts_.begin(), hosts_.end(), domain) != hosts_.end() || is_service(pubsub_, domain) ||
           (muc_ != nullptr && muc_->serves(domain)) || (upload_ != nullptr && upload_->serves(domain));
}

bool router::serves_accounts(std::string_view domain) const {
    // The services' domains may be among the routed ones (the server passes them): they still have no accounts.
    return std::find(hosts_.begin(), hosts_.end(), domain) != hosts_.end() && !is_service(pubsub_, domain) &&
           (muc_ == nullptr || !muc_->serves(domain)) && (upload_ == nullptr || !upload_->serves(domain));
}

boost::asio::awaitable<void> router::route(stanza s, route_origin origin) {
    const auto to = jid::parse(s.to());
    const auto from = jid::parse(s.from());
    if (!to || !from) {
        // Sessions validate both; reaching here is a bug in the caller, not bad input.
        spdlog::error("router: stanza without valid to/from dropped ({} -> {})", s.from(), s.to());
        co_return;
    }
    if (im_ != nullptr && origin.kind == antispim::origin_kind::local_session && !origin.generated &&
        is_local_domain(from->domain())) {
        outgoing out;
        const auto hook = co_await im_->outbound(s, *from, *to, out);
        co_await carry_out(std::move(out));
        if (hook == hook_result::consumed) {
            co_return;
        }
    }
    // Who acts: the authenticated sender, or the local user a local room verified as the inviter of what it relays
    // (outgoing::route_judged_as) — whose outbound protection counts the invitation like its own message.
    const jid& actor = origin.judge_as.empty() ? *from : origin.judge_as;
    const bool relayed_for_local_user =
        !origin.judge_as.empty() && origin.judge_as.has_node() && serves_accounts(origin.judge_as.domain());
    const bool from_local_user = (origin.kind == antispim::origin_kind::local_session && !origin.generated &&
                                  is_local_domain(from->domain()) && from->has_node()) ||
                                 relayed_for_local_user;
    // A local user's stanza to another local account: the outbound guard's storage read, when it reads, also reads
    // the relation route_to_account needs (relation_ahead), and the user's note that it wrote first waits for the
    // addressee's atomic decision to store it (antispim::contact_note). A first message to a stranger so costs two
    // storage round trips instead of five (docs/antispim.md).
    const bool to_other_account = from_local_user && strangers_ != nullptr && !origin.unfiltered &&
                                  serves_accounts(to->domain()) && to->has_node() && !actor.equals_bare(*to);
    relation_ahead ahead;
    if (to_other_account) {
        ahead.check_exists = !sessions_.online(*to);  // as route_to_account would ask
    }
    antispim::contact_note note;
    if (outbound_ != nullptr && from_local_user) {
        outgoing out;
        const auto refused = co_await outbound_->check(s, actor, *to, out, to_other_account ? &ahead : nullptr);
        co_await carry_out(std::move(out));
        if (refused) {
            co_await bounce(answerable(s, origin), refused->condition, refused->type, refused->text);
            co_return;
        }
    }
    if (mam_ != nullptr && from_local_user && s.kind() == stanza_kind::message && !relayed_for_local_user) {
        co_await mam_->outbound(s, *from, *to);  // into the sender's archive, as it leaves
    }
    if (strangers_ != nullptr && from_local_user) {
        co_await strangers_->outbound(s, actor, *to, to_other_account ? &note : nullptr);
    }
    if (!is_local_domain(to->domain())) {
        if (origin.kind == antispim::origin_kind::remote_domain && origin.judge_as.empty()) {
            // Incoming streams refuse other domains; a remote stanza reaching here is a bug, not a relay request.
            spdlog::error("router: remote stanza for remote domain {} dropped", to->domain());
        } else if (remote_ != nullptr) {
            remote_->send(std::move(s), *this);
        } else {
            co_await bounce(s, "remote-server-not-found", "this server does not federate");
        }
        co_return;
    }
    if (muc_ != nullptr && muc_->serves(to->domain())) {
        // XEP-0045: a room (or the service) answers; what it relays comes back through route(), to be judged there.
        outgoing out;
        co_await muc_->handle(s, *from, *to, out);
        co_await carry_out(std::move(out));
        co_return;
    }
    if (upload_ != nullptr && upload_->serves(to->domain())) {
        // XEP-0363: only iq is answered; the service itself refuses slots to anyone but its host's accounts, so
        // the origin goes with the sender (a remote server's stanza never counts as a local session's).
        outgoing out;
        const bool local = origin.kind == antispim::origin_kind::local_session && !origin.generated &&
                           serves_accounts(from->domain());
        co_await upload_->handle(s, *from, *to, local, out);
        co_await carry_out(std::move(out));
        co_return;
    }
    if (!to->has_node()) {
        co_await route_to_server(std::move(s), *to);
        co_return;
    }
    co_await route_to_account(std::move(s), *from, *to, std::move(origin), to_other_account ? &ahead : nullptr,
                              &note);
    co_await store_note(&note);  // still pending only where routing stopped early (a failed read)
}

boost::asio::awaitable<void> router::store_note(antispim::contact_note* note) {
    if (note != nullptr && note->pending && strangers_ != nullptr) {
        co_await strangers_->store_note(*note);
    }
}

boost::asio::awaitable<void> router::send(stanza s) {
    co_await route(std::move(s), server_origin());
}

boost::asio::awaitable<void> router::send_unfiltered(stanza s) {
    route_origin origin = server_origin();
    origin.unfiltered = true;
    co_await route(std::move(s), std::move(origin));
}

boost::asio::awaitable<void> router::carry_out(outgoing out) {
    for (auto& o : out.take()) {
        switch (o.path) {
        case outgoing_path::route: {
            route_origin origin = server_origin();
            if (!o.judge_as.empty()) {
                // Judged as the sender a local service verified (a room's invitation: its inviter), with that
                // sender's kind of origin.
                const bool local = is_local_domain(o.judge_as.domain());
                origin.kind = local ? antispim::origin_kind::local_session : antispim::origin_kind::remote_domain;
                origin.domain = o.judge_as.domain();
                origin.judge_as = std::move(o.judge_as);
            }
            co_await route(std::move(o.content), std::move(origin));
            break;
        }
        case outgoing_path::unfiltered: {
            route_origin origin = server_origin();
            origin.unfiltered = true;
            co_await route(std::move(o.content), std::move(origin));
            break;
        }
        case outgoing_path::resource:
            deliver_to_resource(o);
            break;
        }
    }
}

void router::deliver_to_resource(const outgoing_stanza& o) {
    if (auto target = sessions_.find(o.resource)) {
        target->deliver(share(o.content.serialize()));
    }
}

boost::asio::awaitable<void> router::session_presence(const jid& full, const stanza& presence) {
    if (im_ == nullptr) {
        sessions_.set_presence(full, presence.type().empty(), presence_priority(presence));
        co_return;
    }
    outgoing out;
    co_await im_->session_presence(full, presence, out);
    co_await carry_out(std::move(out));
}

boost::asio::awaitable<void> router::session_ended(const jid& full, bool was_available,
                                                   const std::set<std::string>& directed, const std::string& status) {
    if (strangers_ != nullptr) {
        strangers_->session_ended(full, directed);  // the rooms that resource was in are left
    }
    if (im_ == nullptr) {
        co_return;
    }
    outgoing out;
    co_await im_->session_ended(full, was_available, directed, status, out);
    co_await carry_out(std::move(out));
}

boost::asio::awaitable<void> router::waiting_session_message(const stanza& message, const jid& to) {
    if (im_ == nullptr) {
        co_return;
    }
    outgoing out;
    co_await im_->waiting_session_message(message, to, out);
    co_await carry_out(std::move(out));
}

boost::asio::awaitable<registration_outcome> router::account_request(const stanza& iq, const jid& full) {
    if (im_ == nullptr) {
        co_return registration_outcome{make_error_reply(iq, "service-unavailable"), false};
    }
    outgoing out;
    auto outcome = co_await im_->account_request(iq, full, out);
    co_await carry_out(std::move(out));
    co_return outcome;
}

boost::asio::awaitable<void> router::route_to_server(stanza s, const jid& to) {
    if (s.kind() == stanza_kind::iq && (s.type() == "get" || s.type() == "set")) {
        outgoing out;
        stanza reply = co_await handlers_.handle(s, to.bare(), out);
        co_await carry_out(std::move(out));  // what the request caused (pushes) comes first, as before its answer
        if (reply.valid()) {
            co_await route(std::move(reply), server_origin());
        }
    }
    // Presence and messages to the server itself, and iq results/errors, need no answer; some are awaited.
    if (s.kind() != stanza_kind::presence) {
        for (server_inbox* inbox : inboxes_) {
            if (inbox != nullptr && co_await inbox->handle(s)) {
                break;
            }
        }
    }
    co_return;
}

boost::asio::awaitable<void> router::route_to_account(stanza s, const jid& from, const jid& to, route_origin origin,
                                                      relation_ahead* ahead, antispim::contact_note* note) {
    const stanza_kind kind = s.kind();
    const std::string_view type = s.type();
    const bool online = sessions_.online(to);
    // Who is judged: the authenticated sender, or the one a local room verified for what it relays.
    const jid& sender = origin.judge_as.empty() ? from : origin.judge_as;
    if (mam_ != nullptr && kind == stanza_kind::message && !origin.generated) {
        // XEP-0359: only this server says what is in the account's archive — before anything keeps the message
        // (a held one is released, and archived, as it was held).
        mam_->strip_forged(s, from, to);
    }

    // Classify first (antispim/classification.hpp): what the receiver is to the authenticated sender decides
    // whether the stanza is judged, delivered or dropped — for a missing account exactly as for an existing one.
    antispim::inbound_facts facts;
    facts.kind = kind;
    facts.type = type;
    facts.to_bare = to.is_bare();
    facts.anti_spim_own = origin.unfiltered;
    facts.server_generated = origin.generated;
    facts.own = sender.equals_bare(to) || (!sender.has_node() && is_local_domain(sender.domain()));
    // XEP-0357: an app server answering the account's notification. Taken before anything is read: it is the push
    // service's, and the classification only counts it.
    std::optional<push_answer> answered_push;
    if (im_ != nullptr && kind == stanza_kind::iq && !origin.generated && !facts.anti_spim_own && !facts.own) {
        answered_push = im_->take_push_answer(s, from, to);
    }
    facts.push_answer = answered_push.has_value();
    // XEP-0163: a resource answering the receiver's PEP service, which asked what its client wants. The same.
    std::unique_ptr<pubsub_engine::caps_reply> answered_caps;
    if (pubsub_ != nullptr && kind == stanza_kind::iq && !origin.generated && !facts.anti_spim_own &&
        !facts.push_answer) {
        answered_caps = pubsub_->take_caps_answer(s, from, to);
    }
    facts.caps_answer = answered_caps != nullptr;
    facts.pubsub_event = kind == stanza_kind::message && s.child("event", pubsub::event_ns);
    relation_facts relation;
    if (facts.push_answer || facts.caps_answer) {
        // Nothing of the account to read: the answer goes no further than the push or PEP service.
    } else if (facts.anti_spim_own || facts.own || strangers_ == nullptr) {
        if (!online) {
            auto looked_up = co_await accounts_.exists(to.bare());
            if (!looked_up) {
                spdlog::error("router: account lookup for {} failed: {}", to.bare_string(), looked_up.error());
                co_await bounce(s, "internal-server-error", error_type::wait);
                co_return;
            }
            relation.account_exists = *looked_up;
        }
    } else if (ahead != nullptr && ahead->facts && (ahead->check_exists || online)) {
        relation = std::move(*ahead->facts);  // read with the outbound guard's read, as relation() reads it
    } else {
        auto found = co_await strangers_->relation(to, sender, !online);  // `to` full: rooms are joined per resource
        if (!found) {
            spdlog::error("router: cannot tell what {} is to {}: {}", sender.bare_string(), to.bare_string(),
                          found.error());
            co_await bounce(s, "internal-server-error", error_type::wait);
            co_return;
        }
        relation = std::move(*found);
    }
    facts.contact = relation.contact;
    facts.trusted_local = relation.trusted_local;
    facts.answers_receiver = relation.answers_receiver;
    facts.joined_room = relation.joined_room;
    facts.automatic = kind == stanza_kind::message && is_automatic_message(s);
    facts.room_invitation = kind == stanza_kind::message && !origin.judge_as.empty();
    const antispim::classification row = antispim::classify(facts);
    classified_[antispim::classification_row_index(row.name)].fetch_add(1, std::memory_order_relaxed);
    if (row.what != antispim::disposition::judge) {
        co_await store_note(note);  // no atomic decision will take it: stored before anything goes on
    }
    if (answered_push) {
        co_await im_->push_answered(*answered_push);
        co_return;
    }
    if (answered_caps) {
        outgoing out;
        co_await pubsub_->caps_answered(*answered_caps, out);  // the last items the resource wants
        co_await carry_out(std::move(out));
        co_return;
    }
    if (row.what == antispim::disposition::drop) {
        // Never answered: an answer would tell the sender something (and errors are never answered).
        spdlog::debug("router: {} from {} to {} dropped ({})", stanza_kind_name(kind), from.full_string(),
                      to.full_string(), row.name);
        co_return;
    }
    if (kind == stanza_kind::iq && to.is_bare() && (type == "get" || type == "set")) {
        // The server answers iq to a bare JID on the account's behalf (RFC 6120 §10.5.3.2) — to a stranger the
        // same whether the account exists or not, and nothing personal.
        const bool stranger = !facts.own && !facts.anti_spim_own && !facts.server_generated && !relation.contact &&
                              !relation.trusted_local;
        if (stranger || !relation.account_exists) {
            pugi::xml_node payload;
            for (auto c : s.element().children()) {
                if (c.type() == pugi::node_element) {
                    payload = c;
                    break;
                }
            }
            switch (antispim::answer_for_stranger_iq(type, payload.name(), payload.attribute("xmlns").value())) {
            case antispim::stranger_iq_answer::to_server:
                break;
            case antispim::stranger_iq_answer::empty_vcard: {
                stanza reply = make_iq_result(s);
                reply.element().append_child("vCard").append_attribute("xmlns").set_value("vcard-temp");
                co_await route(std::move(reply), server_origin());
                co_return;
            }
            case antispim::stranger_iq_answer::refuse:
                co_await bounce(s, "service-unavailable");
                co_return;
            }
        }
        outgoing out;
        stanza reply = co_await handlers_.handle(s, to, out);
        co_await carry_out(std::move(out));  // what the request caused (pushes) comes first, as before its answer
        if (reply.valid()) {
            co_await route(std::move(reply), server_origin());
        }
        co_return;
    }
    const std::optional<bool> sender_young = ahead != nullptr ? ahead->sender_young : std::nullopt;
    if (row.what == antispim::disposition::judge &&
        !co_await post(s, sender, to, origin, relation, note, sender_young)) {
        co_return;
    }
    if (!relation.account_exists) {
        // RFC 6121 §8.5.1: no such account. Presence is silently dropped; iq and messages get an error. A stranger
        // only gets here after passing the challenge under the server's default settings.
        if (kind == stanza_kind::message || (kind == stanza_kind::iq && (type == "get" || type == "set"))) {
            co_await bounce(s, "service-unavailable");
        }
        co_return;
    }
    outgoing out;
    if (im_ != nullptr) {
        // XEP-0191 and privacy lists: a relayed invitation must pass the receiver's rules for its inviter and for
        // the room that relays it.
        auto hook = co_await im_->inbound(s, sender, to, out);
        if (hook == hook_result::proceed && !origin.judge_as.empty()) {
            hook = co_await im_->inbound(s, from, to, out);
        }
        if (hook == hook_result::consumed) {
            co_await carry_out(std::move(out));
            co_return;
        }
    }
    // Archived only now, past the chain: a held stranger's message reaches here once it is released.
    std::optional<std::int64_t> archived;
    if (mam_ != nullptr && kind == stanza_kind::message) {
        archived = co_await mam_->inbound(s, from, to, origin.generated);  // the delivered copy gets its stanza-id
    }
    const delivery delivered = deliver_local(s, to, out);
    co_await carry_out(std::move(out));
    switch (delivered) {
    case delivery::delivered:
        break;
    case delivery::refused:
        if (archived) {
            co_await mam_->forget(to, *archived, s);
        }
        co_await bounce(s, "service-unavailable");
        break;
    case delivery::no_resource: {
        // RFC 6121 §8.5.2.2.1: store for later (XEP-0160), or refuse; never lose silently.
        outgoing notifications;  // XEP-0357: the account's phones are woken for what was stored
        const std::string condition =
            im_ != nullptr ? co_await im_->undeliverable(s, to, notifications, archived) : "service-unavailable";
        co_await carry_out(std::move(notifications));
        if (!condition.empty()) {
            if (archived) {
                co_await mam_->forget(to, *archived, s);  // refused after all: not the account's
            }
            co_await bounce(s, condition);
        } else if (archived) {
            // Stored offline (an archived message has a body: always worth storing), referencing its archive item:
            // its own copy goes once the item is written.
            co_await mam_->stored_offline(to, *archived);
        }
        break;
    }
    }
}

boost::asio::awaitable<bool> router::inviter_acceptable(const stanza& s, const jid& from, const jid& to) {
    if (s.kind() != stanza_kind::message || strangers_ == nullptr) {
        co_return true;
    }
    auto invite = s.child("x", "http://jabber.org/protocol/muc#user").child("invite");
    if (!invite) {
        co_return true;
    }
    auto inviter = jid::parse(invite.attribute("from").value());
    if (!inviter || inviter->equals_bare(from)) {
        co_return true;  // no claim beyond the authenticated sender
    }
    if (inviter->equals_bare(to)) {
        co_return false;  // nobody invites themselves through a room: a forgery
    }
    auto found = co_await strangers_->relation(to.bare(), *inviter, false);
    co_return found && (found->contact || found->trusted_local);
}

boost::asio::awaitable<bool> router::post(const stanza& s, const jid& from, const jid& to, const route_origin& origin,
                                          const relation_facts& relation, antispim::contact_note* note,
                                          std::optional<bool> sender_young) {
    const stanza_kind kind = s.kind();
    antispim::spim_context ctx{s};
    ctx.sender = from;  // the authenticated sender, never a claim inside the payload
    ctx.receiver = to;
    ctx.kind = kind;
    ctx.subscription_request = kind == stanza_kind::presence && s.type() == "subscribe";
    ctx.origin = origin.kind;
    ctx.origin_domain = origin.domain;
    ctx.peer_address = origin.peer_address;
    ctx.contact = relation.contact;
    ctx.stranger = !relation.contact && !relation.trusted_local;
    ctx.record = relation.record;
    ctx.receiver_online = sessions_.online(to);
    ctx.sender_note = note;
    ctx.sender_young = sender_young;
    const antispim::decision d = co_await chain_.evaluate(ctx);
    if (strangers_ != nullptr && kind == stanza_kind::message && d.result.kind == antispim::verdict_kind::pass) {
        if (relation.contact && !relation.related) {
            strangers_->remember_for_reports(s, from, to);  // let in by a passed challenge: spam if reported
        } else if (relation.related ||
                   (relation.trusted_local && origin.kind == antispim::origin_kind::local_session)) {
            strangers_->learn_ham(s, from, to);  // a contact's, or an established account's to someone new
        }
    }
    if (recent_ != nullptr && d.result.kind != antispim::verdict_kind::pass) {
        verdict_record r;
        r.time = unix_now();
        r.policy = d.policy;
        r.verdict = std::string(antispim::verdict_name(d.result.kind));
        r.reason = d.result.reason;
        r.sender = ctx.sender.bare_string();
        r.receiver = to.bare_string();
        r.stanza = std::string(stanza_kind_name(kind));
        r.explanation = d.result.explanation;
        recent_->record(std::move(r));
    }
    outgoing out;
    if (d.result.effect) {
        co_await d.result.effect->apply(s, out);  // an atomic decision stores the sender's note with its own writes
        if (!origin.judge_as.empty()) {
            out.readdress_errors(s.from(), origin.judge_as.full_string());  // the inviter hears, not the room
        }
    }
    co_await store_note(note);  // else it is stored now, before anything is sent or delivered
    if (d.result.effect) {
        co_await carry_out(std::move(out));
    }
    using antispim::verdict_kind;
    switch (d.result.kind) {
    case verdict_kind::pass:
        // XEP-0045 §7.8.2: a room relays an invitation naming the inviter. The room passed; the inviter it names
        // must be someone the receiver would let through as well.
        if (!co_await inviter_acceptable(s, from, to)) {
            classified_[antispim::classification_rows.size()].fetch_add(1, std::memory_order_relaxed);
            spdlog::info("router: invitation relayed by {} to {} dropped: the inviter it names is a stranger",
                         from.full_string(), to.bare_string());
            co_return false;
        }
        co_return true;
    case verdict_kind::drop:
        co_return false;
    case verdict_kind::reject: {
        const auto& cond = d.result.error_condition.empty() ? std::string("not-acceptable") : d.result.error_condition;
        co_await bounce(answerable(s, origin), cond, default_error_type(cond), d.result.error_text,
                        d.result.error_payload);
        co_return false;
    }
    case verdict_kind::hold:
        if (d.result.effect) {
            co_return false;  // the policy keeps the stanza (and has told the sender why)
        }
        // A hold with nowhere to keep the stanza: refused with a temporary error rather than lost.
        co_await bounce(answerable(s, origin), "policy-violation", error_type::wait, "try again later");
        co_return false;
    case verdict_kind::defer: {
        const auto& cond =
            d.result.error_condition.empty() ? std::string("policy-violation") : d.result.error_condition;
        co_await bounce(answerable(s, origin), cond, error_type::wait,
                        d.result.error_text.empty() ? std::string_view("try again later") : d.result.error_text,
                        d.result.error_payload);
        co_return false;
    }
    }
    co_return false;
}

boost::asio::awaitable<void> router::bounce(const stanza& s, std::string_view condition, std::string_view text) {
    co_await bounce(s, condition, default_error_type(condition), text);
}

boost::asio::awaitable<void> router::bounce(const stanza& s, std::string_view condition, error_type type,
                                            std::string_view text, std::string_view payload) {
    if (s.is_error() || s.type() == "result") {
        co_return;  // never answer an error or a result with an error
    }
    stanza reply = make_error_reply(s, condition, type, text);
    if (!payload.empty()) {
        pugi::xml_document extra;
        if (extra.load_buffer(payload.data(), payload.size())) {
            reply.element().child("error").append_copy(extra.first_child());
        }
    }
    co_await route(std::move(reply), server_origin());
}

}  // namespace hush
