#include "server/app/hushctl_antispim.hpp"

#include "server/app/hushctl_common.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include <openssl/sha.h>

#include "antispim/blocklist.hpp"
#include "protocol/scram.hpp"
#include "protocol/jid.hpp"
#include "protocol/stanza.hpp"
#include "antispim/documents.hpp"
#include "server/im/im_context.hpp"

namespace hush {

namespace {

using hushctl::fail;

namespace docs = antispim_documents;

std::string to_xml(pugi::xml_node node) {
    std::ostringstream out;
    node.print(out, "  ", pugi::format_indent);
    return out.str();
}

std::string preview(const std::string& xml) {
    stanza s = stanza::parse(xml);
    if (!s.valid()) {
        return "(unreadable)";
    }
    if (s.kind() == stanza_kind::presence) {
        return "[invite: presence " + std::string(s.type()) + "]";
    }
    std::string body = s.element().child_value("body");
    if (body.size() > 60) {
        body = body.substr(0, 57) + "...";
    }
    return body;
}

int challenge_command(const config& cfg, storage::store& store, const jid& user, const std::vector<std::string>& args) {
    const std::string d = user.domain();
    const std::string u = user.node();
    if (args.size() == 2) {
        auto own = docs::get_settings(store, d, u);
        if (!own) {
            return fail(own.error().message);
        }
        pugi::xml_document doc;
        antispim::append_challenge_settings(doc, own->value_or(cfg.antispim.challenge));
        std::printf("%s%s", *own ? "" : "<!-- the server default: the user has set none -->\n",
                    to_xml(doc.first_child()).c_str());
        return 0;
    }
    if (args[2] == "reset" && args.size() == 3) {
        if (auto r = store.delete_document(d, u, "antispim:settings"); !r) {
            return fail(r.error().message);
        }
        if (auto r = docs::rotate_key(store, d, u); !r) {
            return fail(r.error().message);
        }
        std::printf("%s uses the server's default challenge again; earlier approvals are revoked\n",
                    user.bare_string().c_str());
        return 0;
    }
    if (args[2] != "set" || args.size() != 4) {
        return 2;
    }
    std::string text;
    if (args[3] == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        std::ifstream in(args[3]);
        if (!in) {
            return fail("cannot read " + args[3]);
        }
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    pugi::xml_document doc;
    if (!doc.load_string(text.c_str())) {
        return fail(args[3] + ": not well-formed XML");
    }
    auto parsed = antispim::parse_challenge_settings(doc.document_element());
    if (!parsed) {
        return fail(args[3] + ": " + parsed.error());
    }
    auto old = docs::get_settings(store, d, u);
    if (!old) {
        return fail(old.error().message);
    }
    const auto& before = old->value_or(cfg.antispim.challenge);
    const bool rotate = before.question != parsed->question || before.good_answers != parsed->good_answers ||
                        before.wrong_answers != parsed->wrong_answers;
    if (auto r = docs::put_settings(store, d, u, *parsed); !r) {
        return fail(r.error().message);
    }
    if (rotate) {
        if (auto r = docs::rotate_key(store, d, u); !r) {
            return fail(r.error().message);
        }
    }
    std::printf("challenge settings of %s replaced%s\n", user.bare_string().c_str(),
                rotate ? "; a new question: earlier approvals and secrets are revoked" : "");
    return 0;
}

int requests_command(const config& cfg, storage::store& store, const jid& user, const std::vector<std::string>& args) {
    const std::string d = user.domain();
    const std::string u = user.node();
    const auto now = unix_now();
    const auto expiry = std::chrono::duration_cast<std::chrono::seconds>(cfg.antispim.held_expiry).count();
    if (args.size() == 2) {
        auto list = docs::list_requests(store, d, u, now, expiry);
        if (!list) {
            return fail(list.error().message);
        }
        for (const auto& request : *list) {
            std::printf("%s\t%zu held, first %s\t%s\n", request.sender.c_str(), request.held.size(),
                        xep0082_stamp(request.held.front().at).c_str(), preview(request.held.front().xml).c_str());
        }
        return 0;
    }
    if (args.size() != 4) {
        return 2;
    }
    const auto sender = jid::parse(args[3]);
    if (!sender) {
        return fail("'" + args[3] + "' is not a JID");
    }
    const std::string sender_bare = sender->bare_string();
    const std::string& action = args[2];
    if (action != "release" && action != "reject" && action != "report") {
        return 2;
    }
    auto held = docs::take_held(store, d, u, sender_bare, now, expiry);
    if (!held) {
        return fail(held.error().message);
    }
    if (action == "release") {
        for (const auto& item : *held) {
            stanza s = stanza::parse(item.xml);
            if (!s.valid()) {
                continue;
            }
            // The content policy's mark (the receiver releases it now) is no part of what the sender sent.
            if (auto mark = s.child("quarantined", antispim::ns)) {
                s.element().remove_child(mark);
            }
            if (s.kind() == stanza_kind::presence) {
                storage::subscription_request request{sender_bare, s.serialize(), item.at};
                if (auto r = store.put_subscription_request(d, u, request); !r) {
                    return fail(r.error().message);
                }
                continue;
            }
            auto delay = s.element().append_child("delay");
            delay.append_attribute("xmlns").set_value("urn:xmpp:delay");
            delay.append_attribute("from").set_value(d.c_str());
            delay.append_attribute("stamp").set_value(xep0082_stamp(item.at).c_str());
            delay.append_child(pugi::node_pcdata).set_value("Held until the sender was approved");
            if (auto r = store.store_offline_message(d, u, s.serialize(), item.at, cfg.limits.max_offline_messages);
                !r || !*r) {
                return fail(r ? "the offline store of " + user.bare_string() + " is full" : r.error().message);
            }
        }
        if (auto r = docs::approve(store, d, u, sender_bare); !r) {
            return fail(r.error().message);
        }
        std::printf("%s approved for %s; %zu held stanza(s) released (delivered at the next login)\n",
                    sender_bare.c_str(), user.bare_string().c_str(), held->size());
        return 0;
    }
    if (action == "report") {
        antispim::sender_state blocked;
        blocked.blocked = true;
        if (auto r = docs::put_state(store, d, u, sender_bare, blocked); !r) {
            return fail(r.error().message);
        }
        // Kept for the admins and counted towards user consensus, as a report from a client is; with full weight,
        // as it is the admin's judgement.
        storage::spam_report report{0, user.bare_string(), sender_bare, "spam",
                                    "reported with hushctl from the message requests", {}, unix_now()};
        if (auto r = store.add_spam_report(report); !r) {
            return fail(r.error().message);
        }
        const auto reported = jid::parse(sender_bare);
        if (auto r = store.put_spam_vote({user.bare_string(), sender_bare, reported ? reported->domain() : "",
                                          "report", unix_now()});
            !r) {
            return fail(r.error().message);
        }
        std::printf("%s blocked for %s and reported; %zu held stanza(s) discarded\n", sender_bare.c_str(),
                    user.bare_string().c_str(), held->size());
        return 0;
    }
    std::printf("%zu held stanza(s) of %s discarded for %s\n", held->size(), sender_bare.c_str(),
                user.bare_string().c_str());
    return 0;
}

int blocklist_command(storage::store& store, const std::vector<std::string>& args) {
    if (args.size() == 2 && args[1] == "list") {
        auto list = store.list_blocklist(0);
        if (!list) {
            return fail(list.error().message);
        }
        const auto now = unix_now();
        for (const auto& e : *list) {
            // What it does, when it does not simply block: "greylist" (a range the DoS detector saw a farm in).
            const std::string does = e.trust == "block" ? "" : "\t" + e.trust;
            std::printf("%s\t%s\t%s\t%s\tadded %s\t%s%s%s\n", e.kind.c_str(), e.value.c_str(), e.reason.c_str(),
                        e.source.c_str(), xep0082_stamp(e.added_at).c_str(),
                        e.expires_at == 0 ? "never expires"
                                          : ((e.expires_at <= now ? "expired " : "expires ") +
                                             xep0082_stamp(e.expires_at)).c_str(),
                        e.contacts_too ? "\tcontacts too" : "", does.c_str());
        }
        return 0;
    }
    if (args.size() < 4 || (args[1] != "add" && args[1] != "remove")) {
        return 2;
    }
    auto value = antispim::normalize_blocklist_value(args[2], args[3]);
    if (!value) {
        return fail(value.error());
    }
    if (args[1] == "remove") {
        if (args.size() != 4) {
            return 2;
        }
        auto removed = store.remove_blocklist_entry(args[2], *value);
        if (!removed) {
            return fail(removed.error().message);
        }
        if (!*removed) {
            return fail("no blocklist entry " + args[2] + " " + *value);
        }
        std::printf("removed %s %s\n", args[2].c_str(), value->c_str());
        return 0;
    }
    storage::blocklist_entry entry;
    entry.kind = args[2];
    entry.value = *value;
    entry.source = "admin";
    entry.added_at = unix_now();
    for (std::size_t i = 4; i < args.size(); ++i) {
        if (args[i] == "--contacts-too") {
            entry.contacts_too = true;
        } else if (args[i] == "--expires" && i + 1 < args.size()) {
            long hours = 0;
            const auto& text = args[++i];
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), hours);
            if (ec != std::errc{} || end != text.data() + text.size() || hours <= 0) {
                return fail("--expires takes a number of hours");
            }
            entry.expires_at = entry.added_at + hours * 3600;
        } else if (entry.reason.empty() && !args[i].starts_with("--")) {
            entry.reason = args[i];
        } else {
            return 2;
        }
    }
    if (entry.reason.empty()) {
        entry.reason = "blocked by an administrator";
    }
    if (auto stored = store.put_blocklist_entry(entry); !stored) {
        return fail(stored.error().message);
    }
    std::printf("blocked %s %s\n", entry.kind.c_str(), entry.value.c_str());
    return 0;
}

int token_command(storage::store& store, const std::vector<std::string>& args) {
    if (args.size() == 2 && args[1] == "list") {
        auto list = store.list_admin_tokens();
        if (!list) {
            return fail(list.error().message);
        }
        for (const auto& [name, created] : *list) {
            std::printf("%s\tcreated %s\n", name.c_str(), xep0082_stamp(created).c_str());
        }
        return 0;
    }
    if (args.size() != 3 || (args[1] != "create" && args[1] != "revoke")) {
        return 2;
    }
    if (args[1] == "revoke") {
        auto removed = store.remove_admin_token(args[2]);
        if (!removed) {
            return fail(removed.error().message);
        }
        if (!*removed) {
            return fail("no token named " + args[2]);
        }
        std::printf("revoked %s\n", args[2].c_str());
        return 0;
    }
    const std::string token = sasl::random_hex(24);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
    const std::string hashed = sasl::hex_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
    if (auto stored = store.put_admin_token(args[2], hashed, unix_now()); !stored) {
        return fail(stored.error().message);
    }
    std::printf("%s\n", token.c_str());
    std::fprintf(stderr, "token %s created; send it as \"Authorization: Bearer <token>\". It is not shown again.\n",
                 args[2].c_str());
    return 0;
}

}  // namespace

int run_antispim_command(const config& cfg, storage::store& store, const std::vector<std::string>& args) {
    if (args[0] == "blocklist") {
        return blocklist_command(store, args);
    }
    if (args[0] == "token") {
        return token_command(store, args);
    }
    if (args.size() < 2) {
        return 2;
    }
    const auto user = jid::parse(args[1]);
    if (!user || !user->has_node() || !user->is_bare() ||
        std::find(cfg.hosts.begin(), cfg.hosts.end(), user->domain()) == cfg.hosts.end()) {
        return fail("'" + args[1] + "' is not an account of this server (user@host)");
    }
    auto exists = store.account_exists(user->domain(), user->node());
    if (!exists) {
        return fail(exists.error().message);
    }
    if (!*exists) {
        return fail("no account " + user->bare_string());
    }
    return args[0] == "challenge" ? challenge_command(cfg, store, *user, args) : requests_command(cfg, store, *user, args);
}

}  // namespace hush
