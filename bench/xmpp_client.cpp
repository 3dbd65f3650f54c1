#include "bench/xmpp_client.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <fstream>
#include <map>
#include <mutex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "protocol/scram.hpp"

namespace hush::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

std::mutex cache_mutex;
std::map<std::string, std::string> cache;  // hex key → hex SaltedPassword

// SaltedPassword per (password, salt, iterations): PBKDF2 is the client's one expensive step, and real clients
// cache it too; without this the generator, not the server, would limit logins per second.
std::string salted_password(const std::string& password, const std::string& salt, unsigned iterations) {
    auto& mutex = cache_mutex;
    const std::string key = password + '\0' + salt + '\0' + std::to_string(iterations);
    {
        std::lock_guard lock(mutex);
        if (auto it = cache.find(key); it != cache.end()) {
            return it->second;
        }
    }
    unsigned char out[SHA_DIGEST_LENGTH];
    PKCS5_PBKDF2_HMAC_SHA1(password.data(), static_cast<int>(password.size()),
                           reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                           static_cast<int>(iterations), sizeof out, out);
    std::string salted(reinterpret_cast<const char*>(out), sizeof out);
    std::lock_guard lock(mutex);
    cache.emplace(key, salted);
    return salted;
}

std::string hmac_sha1(std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
         data.size(), out, &len);
    return std::string(reinterpret_cast<const char*>(out), len);
}

std::string sha1(std::string_view data) {
    unsigned char out[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
    return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

// The text between <tag ...> and </tag> of the first `tag` element in `xml` (no nesting of the same tag).
std::string inner_text(std::string_view xml, std::string_view tag) {
    const auto open = xml.find("<" + std::string(tag));
    if (open == std::string_view::npos) {
        return {};
    }
    const auto start = xml.find('>', open);
    if (start == std::string_view::npos || xml[start - 1] == '/') {
        return {};
    }
    const auto end = xml.find("</" + std::string(tag), start);
    return end == std::string_view::npos ? std::string() : std::string(xml.substr(start + 1, end - start - 1));
}

std::string attribute(std::string_view field_list, char name) {
    // SCRAM attribute lists: "r=…,s=…,i=…"
    std::size_t pos = 0;
    while (pos < field_list.size()) {
        const auto comma = field_list.find(',', pos);
        const auto field = field_list.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
        if (field.size() >= 2 && field[0] == name && field[1] == '=') {
            return std::string(field.substr(2));
        }
        if (comma == std::string_view::npos) {
            break;
        }
        pos = comma + 1;
    }
    return {};
}

bool has_id(std::string_view stanza, std::string_view id) {
    return stanza.find("id='" + std::string(id) + "'") != std::string_view::npos ||
           stanza.find("id=\"" + std::string(id) + "\"") != std::string_view::npos;
}

bool is_error(std::string_view stanza) {
    return stanza.find("type='error'") != std::string_view::npos ||
           stanza.find("type=\"error\"") != std::string_view::npos;
}

}  // namespace

struct xmpp_client::impl {
    impl(asio::any_io_executor executor, asio::ssl::context& tls, client_options o)
        : options(std::move(o)), stream(executor, tls), deadline(executor) {}

    client_options options;
    asio::ssl::stream<tcp::socket> stream;
    asio::steady_timer deadline;
    bool secure = false;
    std::string buffer;
    char chunk[16384];
};

xmpp_client::xmpp_client(asio::any_io_executor executor, asio::ssl::context& tls, client_options options)
    : impl_(std::make_unique<impl>(std::move(executor), tls, std::move(options))) {}

xmpp_client::~xmpp_client() = default;

void xmpp_client::close() {
    boost::system::error_code ignored;
    impl_->deadline.cancel();
    impl_->stream.next_layer().close(ignored);
}

asio::awaitable<std::string> xmpp_client::send(std::string data) {
    auto& s = *impl_;
    if (s.secure) {
        auto [ec, n] = co_await asio::async_write(s.stream, asio::buffer(data), tuple_awaitable);
        co_return ec ? "write: " + ec.message() : std::string();
    }
    auto [ec, n] = co_await asio::async_write(s.stream.next_layer(), asio::buffer(data), tuple_awaitable);
    co_return ec ? "write: " + ec.message() : std::string();
}

asio::awaitable<std::string> xmpp_client::read_more() {
    auto& s = *impl_;
    auto [ec, n] = s.secure ? co_await s.stream.async_read_some(asio::buffer(s.chunk), tuple_awaitable)
                            : co_await s.stream.next_layer().async_read_some(asio::buffer(s.chunk), tuple_awaitable);
    if (ec) {
        co_return "read: " + ec.message();
    }
    s.buffer.append(s.chunk, n);
    co_return std::string();
}

std::optional<std::string> xmpp_client::take_stanza() {
    auto& b = impl_->buffer;
    for (;;) {
        const auto start = b.find('<');
        if (start == std::string::npos) {
            b.clear();
            return std::nullopt;
        }
        if (start > 0) {
            b.erase(0, start);  // whitespace keepalives
        }
        if (b.starts_with("<?xml")) {
            const auto end = b.find("?>");
            if (end == std::string::npos) {
                return std::nullopt;
            }
            b.erase(0, end + 2);
            continue;
        }
        if (b.starts_with("<stream:stream")) {
            const auto end = b.find('>');
            if (end == std::string::npos) {
                return std::nullopt;
            }
            b.erase(0, end + 1);
            continue;
        }
        if (b.starts_with("</stream:stream>")) {
            std::string out = b.substr(0, 16);
            b.erase(0, 16);
            return out;
        }
        const auto name_end = b.find_first_of(" />\t\r\n", 1);
        const auto tag_end = b.find('>');
        if (name_end == std::string::npos || tag_end == std::string::npos) {
            return std::nullopt;
        }
        std::size_t end = 0;
        if (b[tag_end - 1] == '/') {
            end = tag_end + 1;
        } else {
            const std::string close = "</" + b.substr(1, name_end - 1) + ">";
            const auto at = b.find(close, tag_end);
            if (at == std::string::npos) {
                return std::nullopt;
            }
            end = at + close.size();
        }
        std::string out = b.substr(0, end);
        b.erase(0, end);
        return out;
    }
}

asio::awaitable<std::string> xmpp_client::next_stanza(std::string& error) {
    for (;;) {
        if (auto s = take_stanza()) {
            co_return std::move(*s);
        }
        error = co_await read_more();
        if (!error.empty()) {
            co_return std::string();
        }
    }
}

asio::awaitable<std::string> xmpp_client::open_stream() {
    auto& s = *impl_;
    std::string error = co_await send("<?xml version='1.0'?><stream:stream to='" + s.options.domain +
                                      "' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                                      "version='1.0'>");
    if (!error.empty()) {
        co_return error;
    }
    for (;;) {
        std::string stanza = co_await next_stanza(error);
        if (!error.empty()) {
            co_return error;
        }
        if (stanza.starts_with("<stream:features")) {
            co_return std::string();
        }
        if (stanza.starts_with("<stream:error") || stanza.starts_with("</stream:stream")) {
            co_return "stream error: " + stanza;
        }
    }
}

asio::awaitable<std::string> xmpp_client::connect() {
    auto& s = *impl_;
    // One deadline for the whole connection setup; it closes the socket, which fails the pending operation.
    s.deadline.expires_after(s.options.timeout);
    s.deadline.async_wait([&sock = s.stream.next_layer()](boost::system::error_code ec) {
        if (!ec) {
            boost::system::error_code ignored;
            sock.close(ignored);
        }
    });
    auto& sock = s.stream.next_layer();
    const tcp::endpoint remote(asio::ip::make_address(s.options.host), s.options.port);
    boost::system::error_code ec;
    sock.open(remote.protocol(), ec);
    if (!ec && !s.options.source_address.empty()) {
        sock.bind(tcp::endpoint(asio::ip::make_address(s.options.source_address), 0), ec);
    }
    if (ec) {
        co_return "socket: " + ec.message();
    }
    auto [cec] = co_await sock.async_connect(remote, tuple_awaitable);
    if (cec) {
        co_return "connect: " + cec.message();
    }
    sock.set_option(tcp::no_delay(true), ec);
    std::string error = co_await open_stream();
    if (!error.empty() || !s.options.tls) {
        co_return error;
    }
    error = co_await send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    if (!error.empty()) {
        co_return error;
    }
    const std::string answer = co_await next_stanza(error);
    if (!error.empty() || !answer.starts_with("<proceed")) {
        co_return error.empty() ? "starttls refused: " + answer : error;
    }
    SSL_set_tlsext_host_name(s.stream.native_handle(), s.options.domain.c_str());
    auto [hec] = co_await s.stream.async_handshake(asio::ssl::stream_base::client, tuple_awaitable);
    if (hec) {
        co_return "tls: " + hec.message();
    }
    s.secure = true;
    co_return co_await open_stream();
}

asio::awaitable<std::string> xmpp_client::round_trip(const std::string& request, std::string_view id) {
    std::string error = co_await send(request);
    while (error.empty()) {
        std::string stanza = co_await next_stanza(error);
        if (!error.empty()) {
            break;
        }
        if (stanza.starts_with("<iq") && has_id(stanza, id)) {
            co_return is_error(stanza) ? "error answer: " + stanza : std::string();
        }
    }
    co_return error;
}

asio::awaitable<std::string> xmpp_client::register_account(const std::string& user, const std::string& password) {
    const std::string error = co_await round_trip(
        "<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>" + user + "</username><password>" +
            password + "</password></query></iq>",
        "reg");
    // An account left from an earlier run is fine.
    if (!error.empty() && error.find("conflict") != std::string::npos) {
        co_return std::string();
    }
    co_return error;
}

asio::awaitable<std::string> xmpp_client::authenticate(const std::string& user, const std::string& password) {
    auto& s = *impl_;
    std::string error;
    if (!s.options.scram) {
        const std::string plain = std::string(1, '\0') + user + std::string(1, '\0') + password;
        error = co_await send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
                              sasl::base64_encode(plain) + "</auth>");
    } else {
        const std::string cnonce = sasl::random_hex(12);
        const std::string first_bare = "n=" + user + ",r=" + cnonce;
        error = co_await send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>" +
                              sasl::base64_encode("n,," + first_bare) + "</auth>");
        if (!error.empty()) {
            co_return error;
        }
        const std::string challenge = co_await next_stanza(error);
        if (!error.empty() || !challenge.starts_with("<challenge")) {
            co_return error.empty() ? "sasl: " + challenge : error;
        }
        const auto server_first = sasl::base64_decode(inner_text(challenge, "challenge"));
        if (!server_first) {
            co_return "sasl: bad challenge";
        }
        const std::string nonce = attribute(*server_first, 'r');
        const auto salt = sasl::base64_decode(attribute(*server_first, 's'));
        const unsigned iterations = static_cast<unsigned>(std::stoul("0" + attribute(*server_first, 'i')));
        if (!nonce.starts_with(cnonce) || !salt || iterations == 0) {
            co_return "sasl: bad server-first-message";
        }
        const std::string without_proof = "c=biws,r=" + nonce;
        const std::string salted = salted_password(password, *salt, iterations);
        const std::string client_key = hmac_sha1(salted, "Client Key");
        const std::string auth_message = first_bare + "," + *server_first + "," + without_proof;
        std::string proof = hmac_sha1(sha1(client_key), auth_message);
        for (std::size_t i = 0; i < proof.size(); ++i) {
            proof[i] = static_cast<char>(proof[i] ^ client_key[i]);
        }
        error = co_await send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
                              sasl::base64_encode(without_proof + ",p=" + sasl::base64_encode(proof)) + "</response>");
    }
    if (!error.empty()) {
        co_return error;
    }
    const std::string outcome = co_await next_stanza(error);
    if (!error.empty()) {
        co_return error;
    }
    if (!outcome.starts_with("<success")) {
        co_return "auth failed: " + outcome;
    }
    co_return co_await open_stream();
}

asio::awaitable<std::string> xmpp_client::bind(const std::string& resource) {
    std::string error = co_await round_trip("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                                            "<resource>" + resource + "</resource></bind></iq>",
                                            "bind");
    impl_->deadline.cancel();  // connected: the setup deadline no longer applies
    co_return error;
}

void load_scram_cache(const std::string& path) {
    std::ifstream in(path);
    std::string key;
    std::string value;
    std::lock_guard lock(cache_mutex);
    while (in >> key >> value) {
        auto k = sasl::base64_decode(key);
        auto v = sasl::base64_decode(value);
        if (k && v) {
            cache.emplace(*k, *v);
        }
    }
}

void save_scram_cache(const std::string& path) {
    std::ofstream out(path, std::ios::trunc);
    std::lock_guard lock(cache_mutex);
    for (const auto& [k, v] : cache) {
        out << sasl::base64_encode(k) << ' ' << sasl::base64_encode(v) << '\n';
    }
}

std::optional<std::int64_t> body_stamp(std::string_view stanza) {
    const auto at = stanza.find("<body>t=");
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    std::int64_t value = 0;
    for (std::size_t i = at + 8; i < stanza.size() && stanza[i] >= '0' && stanza[i] <= '9'; ++i) {
        value = value * 10 + (stanza[i] - '0');
    }
    return value;
}

}  // namespace hush::bench
