#include "server/s2s/s2s_manager.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <spdlog/spdlog.h>

#include "protocol/jid.hpp"
#include "server/s2s/s2s_outgoing.hpp"
#include "server/stream/supervised.hpp"

namespace hush {

namespace {

trust_store load_trust(const std::filesystem::path& ca_file) {
    auto loaded = trust_store::load(ca_file.string());
    if (!loaded) {
        throw std::runtime_error("[s2s] ca_file: " + loaded.error());
    }
    return std::move(*loaded);
}

}  // namespace

std::string peer_certificate_status::describe() const {
    if (!presented) {
        return "not presented";
    }
    std::string out = chain_trusted ? "trusted" : "not trusted (" + chain_error + ")";
    out += match == certificate_match::none ? ", does not name the domain"
                                            : ", matches by " + std::string(certificate_match_name(match));
    return out;
}

s2s_manager::s2s_manager(s2s_context ctx, executor_picker pick)
    : ctx_(std::move(ctx)),
      pick_(std::move(pick)),
      trust_(load_trust(ctx.cfg.s2s.ca_file)),
      backoff_(max_backoff_domains, ctx.state_metrics != nullptr
                                        ? ctx.state_metrics->counter(antispim::state_metrics::map::s2s_backoff)
                                        : nullptr) {}

s2s_manager::~s2s_manager() = default;

void s2s_manager::send(stanza s, stanza_sink& bounces) {
    const auto to = jid::parse(s.to());
    const auto from = jid::parse(s.from());
    if (!to || !from || !serves(from->domain())) {
        // The router only hands over stanzas from local accounts, the server itself or its services.
        spdlog::error("s2s: refusing to relay {} -> {}", s.from(), s.to());
        return;
    }
    std::chrono::seconds retry_in{0};
    auto stream = stream_for(to->domain(), from->domain(), retry_in);
    if (!stream) {
        bounce(s, "remote-server-not-found",
               closing_ ? std::string("the server is shutting down")
                        : to->domain() + " could not be reached; the next attempt is in " +
                              std::to_string(retry_in.count()) + " s",
               bounces);
        return;
    }
    stream->submit(std::move(s), bounces);
}

bool s2s_manager::serves(std::string_view domain) const {
    const auto& hosts = ctx_.cfg.hosts;
    if (std::find(hosts.begin(), hosts.end(), domain) != hosts.end()) {
        return true;
    }
    // The pubsub service (the RTBL's notifications) and the MUC services (rooms with remote occupants) are domains
    // of ours too: dialback authenticates them on the stream to the peer like any host (XEP-0220 §2.5), and the
    // peer verifies them with us (s2s_incoming).
    const auto& pubsub = ctx_.cfg.pubsub;
    if (pubsub.enabled && !pubsub.service.empty() && pubsub.service == domain) {
        return true;
    }
    const auto& muc = ctx_.cfg.muc;
    if (muc.enabled && std::find(muc.services.begin(), muc.services.end(), domain) != muc.services.end()) {
        return true;
    }
    // The upload services answer remote senders too (with a refusal: slots are for local accounts only).
    const auto& upload = ctx_.cfg.upload;
    return upload.enabled && std::find(upload.services.begin(), upload.services.end(), domain) != upload.services.end();
}

void s2s_manager::verify(dialback_verify request, std::weak_ptr<dialback_waiter> waiter) {
    std::chrono::seconds retry_in{0};
    auto stream = stream_for(request.to, request.from, retry_in);
    if (!stream) {
        if (auto w = waiter.lock()) {
            dialback_error error{"remote-server-not-found", error_type::cancel,
                                 request.to + " (the authoritative server) could not be reached"};
            w->verification_done(answer_dialback(request, dialback_type::error, error));
        }
        return;
    }
    stream->submit_verify(std::move(request), std::move(waiter));
}

std::shared_ptr<s2s_outgoing_stream> s2s_manager::stream_for(const std::string& remote_domain,
                                                             const std::string& local_domain,
                                                             std::chrono::seconds& retry_in) {
    std::lock_guard lock(mutex_);
    if (closing_) {
        return nullptr;
    }
    if (auto it = streams_.find(remote_domain); it != streams_.end()) {
        if (auto live = it->second.lock()) {
            return live;
        }
        streams_.erase(it);
    }
    const auto now = std::chrono::steady_clock::now();
    if (const auto* b = backoff_.peek(remote_domain); b != nullptr && now < b->retry_at) {
        retry_in = std::chrono::ceil<std::chrono::seconds>(b->retry_at - now);
        return nullptr;
    }
    auto slot = ctx_.connections.admit("s2s-out " + remote_domain);
    if (!slot) {
        return nullptr;
    }
    auto stream =
        std::make_shared<s2s_outgoing_stream>(pick_(), remote_domain, local_domain, ctx_, *this, std::move(slot));
    streams_[remote_domain] = stream;
    stream->start();
    return stream;
}

void s2s_manager::stream_ready(const std::string& remote_domain) {
    std::lock_guard lock(mutex_);
    backoff_.erase(remote_domain);
}

void s2s_manager::stream_gone(const std::string& remote_domain, const s2s_outgoing_stream* stream, bool failed) {
    std::lock_guard lock(mutex_);
    if (auto it = streams_.find(remote_domain); it != streams_.end()) {
        auto live = it->second.lock();
        if (!live || live.get() == stream) {
            streams_.erase(it);
        }
    }
    if (failed) {
        auto& b = backoff_[remote_domain];
        const auto& cfg = ctx_.cfg.s2s;
        b.delay = b.delay.count() == 0 ? cfg.retry_initial : std::min(b.delay * 2, cfg.retry_max);
        b.retry_at = std::chrono::steady_clock::now() + b.delay;
        spdlog::info("s2s-out {}: next attempt in {} s at the earliest", remote_domain, b.delay.count());
    }
}

void s2s_manager::bounce(const stanza& s, std::string_view condition, std::string_view text, stanza_sink& bounces) {
    if (s.is_error() || s.type() == "result") {
        return;  // never answer an error or a result with an error
    }
    stanza reply = make_error_reply(s, condition, text);
    // One-shot: a failure loses this one error reply, which the log then tells.
    std::string what = "bounce <" + std::string(condition) + "/> to " + std::string(reply.to());
    spawn_supervised(pick_(), std::move(what), bounces.send(std::move(reply)));
}

peer_certificate_status s2s_manager::judge_certificate(SSL* ssl, const std::string& domain) const {
    peer_certificate_status status;
    X509* cert = ssl != nullptr ? SSL_get0_peer_certificate(ssl) : nullptr;
    if (cert == nullptr) {
        return status;
    }
    status.presented = true;
    auto verified = trust_.verify(cert, SSL_get_peer_cert_chain(ssl));
    status.chain_trusted = verified.has_value();
    if (!verified) {
        status.chain_error = verified.error();
    }
    status.match = match_certificate_domain(cert, domain);
    return status;
}

std::size_t s2s_manager::stream_count() {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(streams_.begin(), streams_.end(), [](const auto& s) { return !s.second.expired(); }));
}

void s2s_manager::close_all() {
    std::lock_guard lock(mutex_);
    closing_ = true;
}

}  // namespace hush
