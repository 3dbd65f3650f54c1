#pragma once
// One outgoing server-to-server stream (RFC 6120, XEP-0220): resolves the remote domain ([s2s.hosts], SRV, A/AAAA),
// connects, requires TLS (STARTTLS or XEP-0368 direct TLS), then authenticates each local domain that has
// traffic for the peer — SASL EXTERNAL when the peer offers it (it has accepted our certificate), dialback
// otherwise. Stanzas wait in a bounded queue until their local domain is authenticated; when the stream fails
// they are bounced with <remote-server-not-found/> or <remote-server-timeout/>. It also carries our <db:verify/>
// questions to the peer as its authoritative server, which need no authentication.
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "protocol/dialback.hpp"
#include "server/s2s/s2s_manager.hpp"
#include "server/stream/xmpp_stream.hpp"

namespace hush {

class s2s_outgoing_stream final : public xmpp_stream {
public:
    s2s_outgoing_stream(boost::asio::any_io_executor executor, std::string remote_domain, std::string local_domain,
                        s2s_context& ctx, s2s_manager& manager, std::shared_ptr<void> connection_slot);
    ~s2s_outgoing_stream() override;

    void start();
    // From any thread: write `s` once its `from` domain is authenticated, or bounce it through `bounces` if the
    // stream fails.
    void submit(stanza s, stanza_sink& bounces);
    // From any thread: send the dialback verification request once the stream is secured.
    void submit_verify(dialback_verify request, std::weak_ptr<dialback_waiter> waiter);

private:
    enum class phase { connecting, starttls_sent, secured, sasl_sent, ready };

    // xmpp_stream
    boost::asio::awaitable<bool> on_connected() override;
    void handle_stream_open(const xml::stream_open& header) override;
    bool negotiated() const override { return phase_ == phase::ready; }
    void on_close_begun() override;
    std::string log_name() const override;
    void on_stream_restart() override { send_header(); }
    std::chrono::seconds handshake_timeout() const override;
    std::chrono::seconds idle_timeout() const override;
    void on_idle() override;

    boost::asio::awaitable<bool> connect();
    // Binds the socket to the configured source address of `peer`'s family ([s2s] source_addresses), opening it;
    // an error's text, or empty (also when no address of that family is configured).
    std::string bind_source(const boost::asio::ip::tcp::endpoint& peer);
    void send_header();
    boost::asio::awaitable<void> handle_features(const stanza& features);
    boost::asio::awaitable<void> handle_element(stanza s) override;
    void handle_dialback_result(const dialback_result& answer);
    void handle_dialback_verify(const dialback_verify& answer);
    // Starts authenticating `local` with dialback, if it is not already.
    void request_dialback(const std::string& local);
    void authenticated(const std::string& local, std::string_view how);
    void write_stanza(const stanza& s);
    void flush_verifies();
    // Bounces everything queued (and answers waiting verifications with an error); the stream is done.
    void fail_all(std::string_view condition, const std::string& text);
    void fail_domain(const std::string& local, std::string_view condition, const std::string& text);

    std::string remote_;
    std::string local_;  // the domain in our stream header
    s2s_context& ctx_;
    s2s_manager& manager_;
    std::shared_ptr<void> connection_slot_;

    phase phase_ = phase::connecting;
    std::string stream_id_;          // the peer's id for the current stream (dialback keys are bound to it)
    bool peer_offers_dialback_ = false;
    bool sasl_succeeded_ = false;  // authenticated once the restarted stream's features arrive
    peer_certificate_status certificate_;
    std::set<std::string> authenticated_;  // local domains the peer accepts stanzas from
    std::set<std::string> dialback_pending_;
    struct queued {
        stanza content;
        stanza_sink* bounces;  // the pipeline it came from, where its error goes if it cannot be delivered
    };
    std::deque<queued> queue_;
    std::vector<std::pair<dialback_verify, std::weak_ptr<dialback_waiter>>> verifies_unsent_;
    // Sent, waiting for the answer: (from, to, id) → waiter.
    std::map<std::tuple<std::string, std::string, std::string>, std::weak_ptr<dialback_waiter>> verifies_sent_;
    std::string failure_condition_ = "remote-server-not-found";
    std::string failure_text_;
    bool failed_ = false;
};

}  // namespace hush
