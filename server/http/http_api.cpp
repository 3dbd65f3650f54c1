#include "server/http/http_api.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <sstream>

#include "antispim/blocklist.hpp"
#include "antispim/documents.hpp"
#include "protocol/stanza.hpp"
#include "server/http/admin_page.hpp"
#include "server/http/discovery.hpp"
#include "server/registration/registration.hpp"
#include "server/stream/connection_tracker.hpp"
#include "server/upload/upload_http.hpp"
#include "antispim/challenge_evidence.hpp"
#include "antispim/consensus.hpp"
#include "antispim/outbound_guard.hpp"

namespace hush {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace http_util;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::string_view blocklist_ns = "urn:hush:blocklist:0";

// The admin page's own files. A strict CSP: no inline script or style, nothing from elsewhere, no framing.
response admin_asset(const request& req, std::string_view body, std::string_view type) {
    response res = make_response(req, http::status::ok, std::string(body), type);
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("X-Frame-Options", "DENY");
    res.set("Referrer-Policy", "no-referrer");
    res.set(http::field::cache_control, "no-cache");
    return res;
}

}  // namespace

http_api::http_api(server_context& ctx, blocklist_service& blocklist, antispim::chain& chain,
                   const recent_verdicts& verdicts, metrics_sources sources, muc_service* muc,
                   upload_service* upload)
    : ctx_(ctx),
      http_connections_(ctx.cfg.limits.max_connections_per_ip),
      blocklist_(blocklist),
      chain_(chain),
      admin_(ctx, blocklist, verdicts, muc),
      sources_(std::move(sources)),
      upload_(upload) {}

http_api::document http_api::blocklist_document() const {
    std::int64_t newest = 0;
    std::string body = "<?xml version='1.0' encoding='UTF-8'?>\n<blocklist xmlns='" + std::string(blocklist_ns) +
                       "' server='" + xml_escape(ctx_.cfg.hosts.front()) + "'>\n";
    for (const auto& e : blocklist_.published_entries()) {
        const std::string& kind = e.kind;
        const std::string& value = e.value;
        newest = std::max(newest, e.added_at);
        body += "  <entry type='" + xml_escape(kind) + "' value='" + xml_escape(value) + "' reason='" +
                xml_escape(e.reason) + "' source='" + xml_escape(e.source) + "' evidence='" +
                std::string(antispim::evidence_of(e)) + "' added='" + iso(e.added_at) + "'";
        if (e.trust != "block") {
            body += " trust='" + xml_escape(e.trust) + "'";  // a greylisted range: importers should not block it
        }
        if (e.expires_at != 0) {
            body += " expires='" + iso(e.expires_at) + "'";
        }
        body += "/>\n";
    }
    body += "</blocklist>\n";
    document doc;
    doc.etag = "\"" + sha256_hex(body).substr(0, 32) + "\"";
    doc.last_modified = http_date(newest != 0 ? newest : 0);
    doc.body = std::move(body);
    return doc;
}

std::string http_api::metrics_text(std::int64_t held_requests) const {
    std::ostringstream out;
    out << "# HELP hush_antispim_verdicts_total Verdicts per anti-SPIM policy (mode: enforced or dry_run).\n"
        << "# TYPE hush_antispim_verdicts_total counter\n";
    const auto names = chain_.policy_names();
    for (std::size_t i = 0; i < names.size(); ++i) {
        const auto counters = chain_.counters(i);
        for (std::size_t k = 0; k < antispim::verdict_kind_count; ++k) {
            const auto verdict = antispim::verdict_name(static_cast<antispim::verdict_kind>(k));
            out << "hush_antispim_verdicts_total{policy=\"" << names[i] << "\",verdict=\"" << verdict
                << "\",mode=\"enforced\"} " << counters.enforced[k] << "\n";
            out << "hush_antispim_verdicts_total{policy=\"" << names[i] << "\",verdict=\"" << verdict
                << "\",mode=\"dry_run\"} " << counters.dry_run[k] << "\n";
        }
        out << "hush_antispim_policy_failures_total{policy=\"" << names[i] << "\"} " << counters.failures << "\n";
    }
    if (sources_.consensus_state != nullptr) {
        const auto c = sources_.consensus_state->totals();
        out << "# HELP hush_antispim_consensus_total User consensus: votes (blocks, reports, lockouts), reports "
               "stored, entries added, entries a dry run would have added.\n"
            << "# TYPE hush_antispim_consensus_total counter\n"
            << "hush_antispim_consensus_total{event=\"vote\"} " << c.votes << "\n"
            << "hush_antispim_consensus_total{event=\"report\"} " << c.reports << "\n"
            << "hush_antispim_consensus_total{event=\"block\"} " << c.blocks << "\n"
            << "hush_antispim_consensus_total{event=\"would_block\"} " << c.would_block << "\n";
    }
    if (sources_.content != nullptr) {
        const auto& c = *sources_.content;
        const auto bayes = c.stats();
        out << "# HELP hush_antispim_content_spamd_failures_total Content checks spamd did not answer (down, slow or "
               "busy); the fail mode applied\n"
            << "# TYPE hush_antispim_content_spamd_failures_total counter\n"
            << "hush_antispim_content_spamd_failures_total " << c.spamd_failures() << "\n"
            << "# HELP hush_antispim_content_lessons_skipped_total Bayes lessons dropped because too many were queued\n"
            << "# TYPE hush_antispim_content_lessons_skipped_total counter\n"
            << "hush_antispim_content_lessons_skipped_total " << c.lessons_skipped() << "\n"
            << "# HELP hush_antispim_content_bayes_messages Messages the Bayes classifier learnt, by class\n"
            << "# TYPE hush_antispim_content_bayes_messages gauge\n"
            << "hush_antispim_content_bayes_messages{class=\"spam\"} " << bayes.spam_messages << "\n"
            << "hush_antispim_content_bayes_messages{class=\"ham\"} " << bayes.ham_messages << "\n";
    }
    if (sources_.evidence != nullptr) {
        out << "# HELP hush_antispim_evidence_total What challenge evidence against services and networks did "
               "besides DoS verdicts: answers judged with fewer tries.\n"
            << "# TYPE hush_antispim_evidence_total counter\n"
            << "hush_antispim_evidence_total{event=\"stricter_challenge\"} " << sources_.evidence->stricter() << "\n";
    }
    if (sources_.outbound_state != nullptr) {
        const auto counters = sources_.outbound_state->counters();
        out << "# HELP hush_antispim_outbound_total Outbound protection decisions on local accounts' first contacts "
               "with strangers.\n# TYPE hush_antispim_outbound_total counter\n";
        for (std::size_t i = 0; i < outbound_guard::outcome_count; ++i) {
            out << "hush_antispim_outbound_total{outcome=\""
                << outbound_guard::outcome_name(static_cast<outbound_guard::outcome>(i)) << "\"} " << counters[i]
                << "\n";
        }
    }
    if (ctx_.state_metrics != nullptr) {
        out << "# HELP hush_antispim_state_evictions_total Entries forgotten from bounded in-memory defence state "
               "because it was full (least recently used first).\n"
            << "# TYPE hush_antispim_state_evictions_total counter\n";
        for (std::size_t i = 0; i < antispim::state_metrics::map_count; ++i) {
            const auto m = static_cast<antispim::state_metrics::map>(i);
            out << "hush_antispim_state_evictions_total{map=\"" << antispim::state_metrics::name(m) << "\"} "
                << ctx_.state_metrics->total(m) << "\n";
        }
    }
    out << "# HELP hush_antispim_classified_total Stanzas routed to accounts, per row of the anti-SPIM classification "
           "table (docs/antispim.md); invite-inviter-stranger counts relayed invitations dropped for the inviter "
           "they name.\n# TYPE hush_antispim_classified_total counter\n";
    for (std::size_t i = 0; i < antispim::classification_rows.size(); ++i) {
        out << "hush_antispim_classified_total{row=\"" << antispim::classification_rows[i] << "\"} "
            << ctx_.routes.classified(i) << "\n";
    }
    out << "hush_antispim_classified_total{row=\"invite-inviter-stranger\"} "
        << ctx_.routes.classified(antispim::classification_rows.size()) << "\n";
    out << "# HELP hush_antispim_held_requests Senders with stanzas held for a receiver (message requests).\n"
        << "# TYPE hush_antispim_held_requests gauge\n"
        << "hush_antispim_held_requests " << held_requests << "\n";
    if (ctx_.registration != nullptr) {
        const auto& counters = ctx_.registration->counters();
        out << "# HELP hush_registrations_total In-band registrations before login, by outcome "
               "(docs/registration.md).\n# TYPE hush_registrations_total counter\n";
        for (std::size_t i = 0; i < registration_counters::names.size(); ++i) {
            out << "hush_registrations_total{outcome=\"" << registration_counters::names[i] << "\"} "
                << counters.get(static_cast<registration_counters::outcome>(i)) << "\n";
        }
    }
    out << "# HELP hush_sessions Bound client sessions (resources).\n# TYPE hush_sessions gauge\n"
        << "hush_sessions " << ctx_.registry.size() << "\n";
    out << "# HELP hush_connections Open client and server connections.\n# TYPE hush_connections gauge\n"
        << "hush_connections " << ctx_.connections.size() << "\n";
    out << "# HELP hush_s2s_outgoing_streams Outgoing server-to-server streams.\n"
        << "# TYPE hush_s2s_outgoing_streams gauge\n"
        << "hush_s2s_outgoing_streams " << (sources_.s2s_streams ? sources_.s2s_streams() : 0) << "\n";
    out << "# HELP hush_caps_vers XEP-0115 client versions whose verified features are cached.\n"
        << "# TYPE hush_caps_vers gauge\n"
        << "hush_caps_vers " << (sources_.caps_vers ? sources_.caps_vers() : 0) << "\n";
    out << "# HELP hush_blocklist_entries Entries in the server-wide blocklist.\n# TYPE hush_blocklist_entries gauge\n"
        << "hush_blocklist_entries " << blocklist_.current()->entries().size() << "\n";
    return out.str();
}

asio::awaitable<response> http_api::respond(request& req, const websocket::client& from) {
    const std::string& peer_address = from.address;
    response res;
    const std::string target(req.target());
    const std::string path(path_of(target));
    const bool admin_page =
        path == "/admin" || path == "/admin/" || path == "/admin/admin.js" || path == "/admin/admin.css";
    if (admin_page && req.method() != http::verb::get) {
        res = json_error(req, http::status::method_not_allowed, "only GET here");
    } else if (path == "/admin" || path == "/admin/") {
        res = admin_asset(req, admin_page_html(), "text/html; charset=utf-8");
    } else if (path == "/admin/admin.js") {
        res = admin_asset(req, admin_page_js(), "text/javascript; charset=utf-8");
    } else if (path == "/admin/admin.css") {
        res = admin_asset(req, admin_page_css(), "text/css; charset=utf-8");
    } else if (path == "/blocklist.xml" && req.method() == http::verb::get) {
        const auto doc = blocklist_document();
        if (etag_matches(req[http::field::if_none_match], doc.etag)) {
            res = make_response(req, http::status::not_modified, "", "application/xml");
        } else {
            res = make_response(req, http::status::ok, doc.body, "application/xml; charset=utf-8");
        }
        res.set(http::field::etag, doc.etag);
        res.set(http::field::last_modified, doc.last_modified);
    } else if (path == "/metrics" && req.method() == http::verb::get) {
        auto count = [](storage::store& s) { return antispim_documents::count_requests(s); };
        auto held = co_await ctx_.store.run(std::move(count));
        res = make_response(req, http::status::ok, metrics_text(held ? *held : -1), "text/plain; version=0.0.4");
    } else if (admin_api::handles(path)) {
        // Bearer token: only its digest is stored.
        std::string token(req[http::field::authorization]);
        std::optional<std::string> who;
        if (token.starts_with("Bearer ")) {
            auto lookup = [digest = sha256_hex(token.substr(7))](storage::store& s) {
                return s.admin_token_name(digest);
            };
            auto found = co_await ctx_.store.run(std::move(lookup));
            if (found && *found) {
                who = **found;
            }
        }
        if (!who) {
            spdlog::warn("http {}: {} {}: refused, missing or wrong token", peer_address,
                         std::string(req.method_string()), target);
            res = json_error(req, http::status::unauthorized, "a valid bearer token is required");
            res.set(http::field::www_authenticate, "Bearer realm=\"hush\"");
        } else {
            res = co_await admin_.handle(req, *who, peer_address);
        }
    } else if (path == "/blocklist.xml" || path == "/metrics") {
        res = json_error(req, http::status::method_not_allowed, "only GET here");
    } else if (discovery::handles(path)) {
        res = discovery::respond(ctx_.cfg, req, path, from.host, from.secure);
    } else if (path == websocket::path && ctx_.cfg.websocket.enabled) {
        res = json_error(req, http::status::upgrade_required,
                         "XMPP over WebSocket (RFC 7395): open a WebSocket with the 'xmpp' subprotocol");
        res.set(http::field::upgrade, "websocket");
    } else {
        res = json_error(req, http::status::not_found, "no such resource");
    }
    co_return res;
}

}  // namespace hush
