// XEP-0045 messages: groupchat to everyone, the subject, private messages between occupants, invitations and
// declines — each occupant's within its flood allowance ([muc] flood_*).
#include <algorithm>

#include <spdlog/spdlog.h>

#include "protocol/mam.hpp"
#include "protocol/xep0082.hpp"
#include "server/muc/muc_service.hpp"

namespace hush {

using muc_detail::occupant;
using muc_detail::room;

namespace {

constexpr std::size_t max_invitations_per_message = 5;

bool has_element(const stanza& s, std::string_view name) {
    return static_cast<bool>(s.element().child(std::string(name).c_str()));
}

}  // namespace

bool muc_service::take_token_locked(occupant& o) {
    if (options_.flood_messages_per_minute == 0) {
        return true;
    }
    const auto t = muc_detail::clock::now();
    const double per_second = static_cast<double>(options_.flood_messages_per_minute) / 60.0;
    const double elapsed = std::chrono::duration<double>(t - o.refilled).count();
    o.tokens = std::min(static_cast<double>(options_.flood_burst), o.tokens + elapsed * per_second);
    o.refilled = t;
    if (o.tokens < 1.0) {
        return false;
    }
    o.tokens -= 1.0;
    return true;
}

void muc_service::message_locked(const stanza& s, const jid& from, const jid& to, outgoing& out,
                                 std::optional<archived_broadcast>& archived) {
    const std::string_view type = s.type();
    if (type == "error") {
        return;  // never answered; an occupant's bounce changes nothing here
    }
    room* r = find_locked(to.bare());
    if (r == nullptr || !to.has_node()) {
        out.route(make_error_reply(s, "item-not-found", error_type::cancel, {}));
        return;
    }
    occupant* o = r->occupant_of(from);
    if (!to.is_bare()) {
        private_message_locked(*r, s, from, to, out);
        return;
    }
    const auto x = s.child("x", muc::user_ns);
    if (type != "groupchat" && x && (x.child("invite") || x.child("decline"))) {
        invitations_locked(*r, o, s, from, out);
        return;
    }
    if (type != "groupchat") {
        // A voice request or anything else not implemented.
        out.route(make_error_reply(s, "feature-not-implemented", error_type::cancel, {}));
        return;
    }
    if (o == nullptr) {
        out.route(make_error_reply(s, "not-acceptable", error_type::cancel, "only occupants may speak in the room"));
        return;
    }
    groupchat_locked(*r, *o, s, out, archived);
}

void muc_service::groupchat_locked(room& r, occupant& o, const stanza& s, outgoing& out,
                                   std::optional<archived_broadcast>& archived) {
    const bool subject_change = has_element(s, "subject") && !has_element(s, "body");
    if (subject_change) {
        if (o.role != muc::role::moderator && !(r.config.change_subject && o.role >= muc::role::participant)) {
            out.route(make_error_reply(s, "forbidden", error_type::auth, "only moderators may change the subject"));
            return;
        }
    } else if (o.role < muc::role::participant) {
        out.route(make_error_reply(s, "forbidden", error_type::auth, "visitors have no voice in this room"));
        return;
    }
    if (!take_token_locked(o)) {
        out.route(make_error_reply(s, "policy-violation", error_type::wait, "too many messages; slow down"));
        return;
    }
    stanza m = s.clone();
    auto e = m.element();
    e.remove_attribute("to");
    m.set_attribute("from", r.address.with_resource(o.nick).full_string());
    // What the room says itself (XEP-0421 occupant ids, XEP-0359 ids by the room) is never the sender's to set.
    // Nor a muc#user payload (a forged invitation, status codes, a real JID) or anyone's XEP-0359 id.
    muc_detail::strip(m, "occupant-id", muc::occupant_id_ns);
    muc_detail::strip(m, "x", muc::user_ns);
    muc_detail::strip(m, "stanza-id", mam::sid_ns);
    auto id = e.append_child("occupant-id");
    id.append_attribute("xmlns").set_value(muc::occupant_id_ns.data());
    id.append_attribute("id").set_value(o.occupant_id.c_str());
    if (subject_change) {
        r.subject = e.child_value("subject");
        r.subject_by = o.nick;
        r.has_subject = true;
        persist_room_locked(r);
    } else if (has_element(s, "body") && options_.history_size > 0) {
        const std::string body = e.child_value("body");
        r.history.push_back({m, now(), body.size()});  // the same document: an archive id stamped later shows here
        while (r.history.size() > options_.history_size) {
            r.history.pop_front();
        }
    }
    if (archive_.append && r.config.enable_logging && has_element(s, "body")) {
        // XEP-0313 §6: archived first, so every copy carries the room's stanza-id.
        archived_broadcast b{r.address, r.address.with_resource(o.nick), m, {}};
        for (const auto& [nick, viewer] : r.occupants) {
            for (const auto& session : viewer.sessions) {
                stanza copy = m.clone();
                copy.set_attribute("to", session.full_string());
                b.copies.push_back(std::move(copy));
            }
        }
        archived = std::move(b);
        return;
    }
    for (const auto& [nick, viewer] : r.occupants) {
        send_to_occupant(viewer, m, out);
    }
}

void muc_service::private_message_locked(room& r, const stanza& s, const jid& from, const jid& to, outgoing& out) {
    occupant* o = r.occupant_of(from);
    if (o == nullptr) {
        // Only occupants write to occupants: the room is no way around the receiver's anti-SPIM.
        out.route(make_error_reply(s, "not-acceptable", error_type::cancel, "only occupants may send private messages"));
        return;
    }
    if (s.type() == "groupchat") {
        out.route(make_error_reply(s, "bad-request", error_type::modify, {}));
        return;
    }
    const bool allowed = [&] {
        switch (r.config.allow_pm) {
        case muc::pm_policy::anyone:
            return true;
        case muc::pm_policy::participants:
            return o->role >= muc::role::participant;
        case muc::pm_policy::moderators:
            return o->role == muc::role::moderator;
        case muc::pm_policy::none:
            return false;
        }
        return false;
    }();
    // A newcomer waiting for voice ([muc] new_occupants_visitors) listens first: private messages included.
    if (!allowed || (options_.new_occupants_visitors && o->role == muc::role::visitor)) {
        out.route(make_error_reply(s, "forbidden", error_type::auth, "private messages are not allowed here"));
        return;
    }
    auto target = r.occupants.find(to.resource());
    if (target == r.occupants.end()) {
        out.route(make_error_reply(s, "item-not-found", error_type::cancel, {}));
        return;
    }
    const bool automatic = is_automatic_message(s);
    if (!automatic && !take_token_locked(*o)) {
        out.route(make_error_reply(s, "policy-violation", error_type::wait, "too many messages; slow down"));
        return;
    }
    stanza m = s.clone();
    m.set_attribute("from", r.address.with_resource(o->nick).full_string());
    muc_detail::strip(m, "occupant-id", muc::occupant_id_ns);
    muc_detail::strip(m, "x", muc::user_ns);  // the room's own, empty (XEP-0045 §7.5), never the sender's
    muc_detail::strip(m, "stanza-id", mam::sid_ns);
    m.element().append_child("x").append_attribute("xmlns").set_value(muc::user_ns.data());
    send_to_occupant(target->second, m, out);
}

void muc_service::invitations_locked(room& r, occupant* o, const stanza& s, const jid& from, outgoing& out) {
    const auto x = s.child("x", muc::user_ns);
    if (auto decline = x.child("decline")) {
        // XEP-0045 §7.8.2: relayed to the inviter, judged as the one who declines — only the answer to an
        // invitation this room relayed, once: never a way to send anyone a text from the room's domain.
        auto inviter = jid::parse(decline.attribute("to").value());
        auto invited = r.invited.find(from.bare_string());
        if (!inviter || invited == r.invited.end() || invited->second != inviter->bare_string()) {
            return;  // dropped without an answer, like anything unsolicited
        }
        r.invited.erase(invited);
        stanza m = stanza::make("message");
        m.set_attribute("from", r.address.bare_string());
        m.set_attribute("to", inviter->full_string());
        auto mx = m.element().append_child("x");
        mx.append_attribute("xmlns").set_value(muc::user_ns.data());
        auto d = mx.append_child("decline");
        d.append_attribute("from").set_value(from.bare_string().c_str());
        if (auto reason = decline.child("reason")) {
            d.append_child("reason").text().set(reason.child_value());
        }
        out.route_judged_as(std::move(m), from);
        return;
    }
    if (o == nullptr) {
        out.route(make_error_reply(s, "not-acceptable", error_type::cancel, "only occupants may invite"));
        return;
    }
    const auto a = r.affiliation_of(from);
    if (!r.config.allow_invites && a < muc::affiliation::admin && o->role != muc::role::moderator) {
        out.route(make_error_reply(s, "forbidden", error_type::auth, "only the room's admins may invite"));
        return;
    }
    std::size_t sent = 0;
    for (auto invite : x.children("invite")) {
        if (++sent > max_invitations_per_message) {
            break;
        }
        if (!take_token_locked(*o)) {
            out.route(make_error_reply(s, "policy-violation", error_type::wait, "too many invitations; slow down"));
            return;
        }
        auto invitee = jid::parse(invite.attribute("to").value());
        if (!invitee) {
            out.route(make_error_reply(s, "jid-malformed", error_type::modify, {}));
            return;
        }
        if (r.config.members_only && r.affiliation_of(*invitee) < muc::affiliation::member &&
            r.affiliation_of(*invitee) != muc::affiliation::outcast &&
            r.affiliations.size() < muc_detail::max_affiliations_per_room) {
            // XEP-0045 §9.3: an invitation to a members-only room makes the invitee a member.
            set_affiliation_locked(r, invitee->bare_string(), muc::affiliation::member, {}, {});
        }
        stanza m = stanza::make("message");
        m.set_attribute("from", r.address.bare_string());
        m.set_attribute("to", invitee->full_string());
        auto mx = m.element().append_child("x");
        mx.append_attribute("xmlns").set_value(muc::user_ns.data());
        auto i = mx.append_child("invite");
        i.append_attribute("from").set_value(from.bare_string().c_str());
        std::string reason = invite.child_value("reason");
        if (!reason.empty()) {
            i.append_child("reason").text().set(reason.c_str());
        }
        if (r.config.password_protected) {
            mx.append_child("password").text().set(r.config.password.c_str());
        }
        std::string body = from.bare_string() + " invites you to the room " + r.address.bare_string();
        if (!reason.empty()) {
            body += ": " + reason;
        }
        m.element().append_child("body").text().set(body.c_str());
        // A decline may answer it, once (bounded: when full, one remembered invitation is forgotten).
        if (r.invited.size() >= muc_detail::max_invitations_remembered) {
            r.invited.erase(r.invited.begin());
        }
        r.invited[invitee->bare_string()] = from.bare_string();
        // Judged as the inviter this room verified: a stranger's invitation is held and challenged like its message.
        out.route_judged_as(std::move(m), from);
    }
}

}  // namespace hush
