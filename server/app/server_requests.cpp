// The composition root's answers to iq the IM core hands it (server_handlers' extension): requests to an account
// (PEP, vCard photos as avatars), to the server and its service domains (disco#items naming the pubsub, MUC and
// upload services; reports against room occupants), and the upload services' base URL. Split from server.cpp.
#include "server/app/server.hpp"

#include <spdlog/spdlog.h>

#include "server/pubsub/caps_cache.hpp"

namespace hush {

void server::report_to_room(const stanza& iq, const jid& addressed, outgoing& out) {
    const auto block = iq.child("block", "urn:xmpp:blocking");
    const auto requester = jid::parse(iq.from());
    if (!muc_ || !block || iq.type() != "set" || !requester || !requester->equals_bare(addressed)) {
        return;
    }
    for (auto item : block.children("item")) {
        const auto occupant = jid::parse(item.attribute("jid").value());
        const auto report = parse_spam_report(item);
        if (occupant && report && !occupant->is_bare() && muc_->serves(occupant->domain())) {
            std::string reason = report->short_reason();
            if (const auto text = report->joined_text(); !text.empty()) {
                reason += ": " + text;
            }
            if (!muc_->report(addressed, *occupant, reason, out)) {
                spdlog::info("muc: report by {} of {} not passed on (no such occupant, or the reporter is not there)",
                             addressed.bare_string(), occupant->full_string());
            }
        }
    }
}

boost::asio::awaitable<std::optional<stanza>> server::account_request(const stanza& iq, const jid& addressed,
                                                                      outgoing& out) {
    auto answer = co_await account_services_->handle(iq, addressed);
    if (answer && answer->type() == "result" && iq.type() == "set" && cfg_.pubsub.enabled &&
        iq.child("vCard", "vcard-temp").child("PHOTO")) {
        // XEP-0398: the photo an old client stored is the account's PEP avatar too (account_services checked it
        // is the account's own vCard).
        co_await pubsub_->vcard_photo_to_avatar(iq, addressed.bare(), out);
    }
    co_return answer;
}

std::string server::upload_base_url() const {
    const auto& u = cfg_.upload;
    const int i = u.public_url_listener;
    if (i < 0 || static_cast<std::size_t>(i) >= listeners_.size() || cfg_.listeners[i].port != 0) {
        return u.public_url;
    }
    // Derived from a listener on an ephemeral port: the configured port (0) is replaced by the bound one.
    const std::string base = u.public_url.substr(0, u.public_url.rfind(':'));
    return base + ":" + std::to_string(listeners_[static_cast<std::size_t>(i)]->port());
}

boost::asio::awaitable<std::optional<stanza>> server::service_request(const stanza& iq, const jid& addressed,
                                                                      outgoing& out) {
    const auto query = iq.child("query", "http://jabber.org/protocol/disco#items");
    if (iq.type() == "get" && query && !addressed.has_node() && !query.attribute("node") &&
        std::find(cfg_.hosts.begin(), cfg_.hosts.end(), addressed.domain()) != cfg_.hosts.end()) {
        // XEP-0030: the server's items name its services, so clients find the pubsub and MUC services.
        stanza reply = make_iq_result(iq);
        auto q = reply.element().append_child("query");
        q.append_attribute("xmlns").set_value("http://jabber.org/protocol/disco#items");
        if (cfg_.pubsub.enabled && !pubsub_->service_domain().empty()) {
            auto item = q.append_child("item");
            item.append_attribute("jid").set_value(pubsub_->service_domain().c_str());
            item.append_attribute("name").set_value("Publish-subscribe");
        }
        if (muc_) {
            for (const auto& domain : muc_->domains()) {
                auto item = q.append_child("item");
                item.append_attribute("jid").set_value(domain.c_str());
                item.append_attribute("name").set_value("Chatrooms");
            }
        }
        if (upload_) {
            // XEP-0363 §2: clients find the upload service among the server's items.
            for (const auto& domain : upload_->services_of(addressed.domain())) {
                auto item = q.append_child("item");
                item.append_attribute("jid").set_value(domain.c_str());
                item.append_attribute("name").set_value("HTTP File Upload");
            }
        }
        co_return reply;
    }
    if (!cfg_.pubsub.enabled) {
        co_return std::nullopt;
    }
    co_return co_await pubsub_->handle(iq, addressed, out);
}

}  // namespace hush
