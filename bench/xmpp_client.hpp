#pragma once
// A minimal, fast XMPP client for load generation: TCP (from a chosen source address), STARTTLS or plain,
// SASL SCRAM-SHA-1 or PLAIN, XEP-0077 registration, resource binding, raw stanzas out, stanzas in as text.
// Not a general client: it reads the stream as text and finds stanzas by their top-level tags, which is all a
// benchmark needs and costs next to nothing — the server, not the generator, must be the limit.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

namespace hush::bench {

struct client_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 5222;
    std::string domain = "localhost";
    std::string source_address;  // local address to bind (several loopback addresses for >28k connections)
    bool tls = true;             // STARTTLS before authenticating
    bool scram = true;           // SCRAM-SHA-1, else PLAIN
    std::chrono::seconds timeout{60};
};

// One client connection. Every step returns an error text, empty on success.
class xmpp_client {
public:
    xmpp_client(boost::asio::any_io_executor executor, boost::asio::ssl::context& tls, client_options options);
    ~xmpp_client();

    boost::asio::awaitable<std::string> connect();
    boost::asio::awaitable<std::string> register_account(const std::string& user, const std::string& password);
    boost::asio::awaitable<std::string> authenticate(const std::string& user, const std::string& password);
    boost::asio::awaitable<std::string> bind(const std::string& resource);
    // Sends `request` (an iq with id `id`) and waits for the answer; error text if the answer is an error.
    boost::asio::awaitable<std::string> round_trip(const std::string& request, std::string_view id);

    boost::asio::awaitable<std::string> send(std::string data);
    // The next complete top-level stanza (text); empty with `error` set when the stream ends.
    boost::asio::awaitable<std::string> next_stanza(std::string& error);
    void close();

private:
    boost::asio::awaitable<std::string> read_more();
    boost::asio::awaitable<std::string> open_stream();  // sends the header, reads through </stream:features>
    std::optional<std::string> take_stanza();

    struct impl;
    std::unique_ptr<impl> impl_;
};

// The SCRAM SaltedPassword cache (PBKDF2 results) to and from a file, so a measured login run does not spend its
// time on what a real client computes once per account.
void load_scram_cache(const std::string& path);
void save_scram_cache(const std::string& path);

// "t=123" → 123 (the sender's clock), from a stanza containing <body>t=…</body>.
std::optional<std::int64_t> body_stamp(std::string_view stanza);

}  // namespace hush::bench
