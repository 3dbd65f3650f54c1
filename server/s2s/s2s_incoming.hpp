#pragma once
// One incoming server-to-server stream (RFC 6120, XEP-0220, XEP-0178): the peer must start TLS; it then
// authenticates its domain with SASL EXTERNAL (offered only when its certificate is valid for the domain it names
// in its stream header) or with dialback, for which we ask its authoritative server over our outgoing stream —
// unless its certificate already proves the domain (XEP-0344). Stanzas are accepted only from authenticated
// domains (<invalid-from/> otherwise) to our own domains (<host-unknown/>), and go to the router stamped with
// the remote domain and the peer's IP address, like every stanza, through the anti-SPIM chain.
// It also answers <db:verify/> questions as the authoritative server for our domains.
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "protocol/dialback.hpp"
#include "server/s2s/s2s_manager.hpp"
#include "server/pipeline/server_context.hpp"
#include "server/stream/xmpp_stream.hpp"

namespace hush {

class s2s_incoming_stream final : public xmpp_stream, public dialback_waiter {
public:
    s2s_incoming_stream(tcp::socket socket, bool direct_tls, server_context& ctx, s2s_manager& manager,
                        std::shared_ptr<void> connection_slot);

    void start();
    // dialback_waiter: the authoritative server's answer about a <db:result/> this stream received.
    void verification_done(const dialback_verify& answer) override;

private:
    enum class phase { connected, secured, authenticated };

    // xmpp_stream
    boost::asio::awaitable<bool> on_connected() override;
    bool negotiated() const override { return phase_ == phase::authenticated || answered_verify_; }
    std::string log_name() const override;

    void handle_stream_open(const xml::stream_open& header) override;
    void send_features();
    boost::asio::awaitable<void> handle_element(stanza s) override;
    void handle_sasl(const stanza& s);
    void handle_dialback_result(const dialback_result& request);
    void handle_dialback_verify(const dialback_verify& request);
    void accept_domain(const std::string& local, const std::string& remote, std::string_view how);
    boost::asio::awaitable<void> handle_stanza(stanza s);
    bool authorized(const std::string& local, const std::string& remote) const;

    server_context& ctx_;
    s2s_manager& manager_;
    std::shared_ptr<void> connection_slot_;
    bool direct_tls_;

    phase phase_ = phase::connected;
    std::string local_;        // the domain the peer addressed in its header
    std::string header_from_;  // the domain it claimed in its header (may be empty)
    std::string stream_id_;
    bool answered_verify_ = false;  // a stream used only to ask us dialback questions is no idle intruder
    // Remote domains authenticated with SASL EXTERNAL: valid for all our domains.
    std::set<std::string> external_;
    // (local, remote) pairs authenticated with dialback, and those waiting for the authoritative server.
    std::set<std::pair<std::string, std::string>> dialback_;
    std::set<std::pair<std::string, std::string>> dialback_pending_;
};

}  // namespace hush
