// The HTTP side of XEP-0363 (upload_http.hpp). Every decision reads the slot's row; the PUT's claim is one
// conditional storage write (single use), and the body goes to <id>.part in chunks, renamed to <id> once complete.
// Paths never come from the URL: a file is named by a validated id only.
#include "server/upload/upload_http.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <optional>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

#include "protocol/ascii.hpp"
#include "server/upload/upload_names.hpp"

namespace hush {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t chunk_size = 64 * 1024;
constexpr std::chrono::seconds io_timeout{30};  // per read or write of a chunk: an idle peer is dropped
using header_parser = http::request_parser<http::empty_body>;
using text_response = http::response<http::string_body>;

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string http_date(std::int64_t t) {
    const std::time_t seconds = t;
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buffer;
}

// A file descriptor closed on scope exit.
class fd_guard {
public:
    explicit fd_guard(int fd) : fd_(fd) {}
    ~fd_guard() { reset(); }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    int get() const { return fd_; }
    bool close_checked() {
        const int fd = fd_;
        fd_ = -1;
        return fd < 0 || ::close(fd) == 0;
    }
    void reset() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

private:
    int fd_;
};

bool write_all(int fd, const char* data, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd, data, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        data += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

// The origin a response may name in Access-Control-Allow-Origin: "*" when any is allowed, the request's own when it
// is listed, else none.
std::string allowed_origin(const upload_config& options, std::string_view origin) {
    for (const auto& o : options.cors_origins) {
        if (o == "*") {
            return "*";
        }
        if (!origin.empty() && o == origin) {
            return std::string(origin);
        }
    }
    return {};
}

template <class Message>
void common_headers(Message& m, const upload_config& options, const http::request<http::empty_body>& req) {
    m.set(http::field::server, "hush");
    m.set("X-Content-Type-Options", "nosniff");
    if (const std::string origin = allowed_origin(options, req[http::field::origin]); !origin.empty()) {
        m.set(http::field::access_control_allow_origin, origin);
        if (origin != "*") {
            m.set(http::field::vary, "Origin");
        }
    }
}

template <class Stream>
auto& lowest(Stream& stream) {
    return beast::get_lowest_layer(stream);
}

// A short text saying why (every error has one), or what happened.
template <class Stream>
asio::awaitable<bool> reply_text(Stream& stream, const upload_config& options, const http::request<http::empty_body>& req,
                                 http::status status, std::string text, bool keep_alive) {
    text_response res{status, req.version()};
    common_headers(res, options, req);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    if (status == http::status::method_not_allowed) {
        res.set(http::field::allow, "GET, HEAD, PUT, OPTIONS");
    }
    res.body() = req.method() == http::verb::head ? std::string() : text + "\n";
    res.prepare_payload();
    if (req.method() == http::verb::head) {
        res.content_length(text.size() + 1);
    }
    res.keep_alive(keep_alive && req.keep_alive());
    lowest(stream).expires_after(io_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, tuple_awaitable);
    co_return !ec && res.keep_alive();
}

template <class Stream>
asio::awaitable<bool> preflight(Stream& stream, const upload_config& options, const http::request<http::empty_body>& req) {
    const std::string origin = allowed_origin(options, req[http::field::origin]);
    if (origin.empty()) {
        co_return co_await reply_text(stream, options, req, http::status::forbidden,
                                      "uploads are not allowed from this origin", true);
    }
    http::response<http::empty_body> res{http::status::no_content, req.version()};
    common_headers(res, options, req);
    res.set(http::field::access_control_allow_methods, "GET, HEAD, PUT, OPTIONS");
    res.set(http::field::access_control_allow_headers, "Authorization, Content-Type");
    res.set(http::field::access_control_max_age, "86400");
    res.keep_alive(req.keep_alive());
    lowest(stream).expires_after(io_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, tuple_awaitable);
    co_return !ec && res.keep_alive();
}

// Reads and drops a small body the request is refused with, so that the answer can be read before the connection
// closes (closing with unread bytes resets it, and the peer may lose the answer) or the connection kept. False: the
// body was too large to bother, or unreadable — then the connection is closed after the answer.
constexpr std::uint64_t drain_limit = 64 * 1024;

template <class Stream>
asio::awaitable<bool> consume_body(Stream& stream, beast::flat_buffer& buffer, header_parser& header) {
    const auto length = header.content_length();
    if (!header.chunked() && (!length || *length == 0)) {
        co_return true;
    }
    if (header.chunked() || *length > drain_limit) {
        co_return false;
    }
    http::request_parser<http::buffer_body> parser(std::move(header));
    parser.body_limit(drain_limit);
    std::vector<char> scratch(4096);
    while (!parser.is_done()) {
        parser.get().body().data = scratch.data();
        parser.get().body().size = scratch.size();
        lowest(stream).expires_after(io_timeout);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
        if (ec == http::error::need_buffer) {
            ec = {};
        }
        if (ec) {
            co_return false;
        }
    }
    co_return true;
}

// Reads the body into `fd`, at most `size` bytes; false on a read error, a timeout or a body of another size.
template <class Stream>
asio::awaitable<std::optional<std::string>> receive_body(Stream& stream, beast::flat_buffer& buffer,
                                                         header_parser& header, std::uint64_t size, int fd) {
    http::request_parser<http::buffer_body> parser(std::move(header));
    parser.body_limit(size);
    std::vector<char> chunk(chunk_size);
    std::uint64_t received = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(upload_service::body_deadline);
    while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        lowest(stream).expires_after(io_timeout);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
        if (ec == http::error::need_buffer) {
            ec = {};
        }
        if (ec) {
            co_return "the body could not be read: " + ec.message();
        }
        const std::size_t got = chunk.size() - parser.get().body().size;
        if (!write_all(fd, chunk.data(), got)) {
            co_return std::string("the file could not be written");
        }
        received += got;
        if (std::chrono::steady_clock::now() > deadline) {
            co_return std::string("the body took too long");
        }
    }
    if (received != size) {
        co_return "the body had " + std::to_string(received) + " bytes, not " + std::to_string(size);
    }
    co_return std::nullopt;
}

template <class Stream>
asio::awaitable<bool> put_file(upload_service& service, Stream& stream, beast::flat_buffer& buffer,
                               header_parser& header, const upload::file_path& path, const std::string& peer) {
    const upload_config& options = service.options();
    // A copy: the parser itself goes to the body's reader.
    const http::request<http::empty_body> req = header.get();
    const auto length = header.content_length();
    // An answer before the body was read drops a small body first; a large one closes the connection.
    auto refuse = [&](http::status status, std::string why) -> asio::awaitable<bool> {
        spdlog::info("upload http {}: PUT {} refused: {}", peer, path.id, why);
        const bool consumed = co_await consume_body(stream, buffer, header);
        co_return co_await reply_text(stream, options, req, status, std::move(why), consumed);
    };
    auto row = co_await service.store().read([id = path.id](storage::store& s) { return s.get_upload(id); });
    if (!row) {
        spdlog::error("upload http {}: PUT {}: {}", peer, path.id, row.error().message);
        co_return co_await refuse(http::status::internal_server_error, "storage failure, try again later");
    }
    if (!*row || (*row)->filename != path.filename) {
        co_return co_await refuse(http::status::not_found, "no such upload slot");
    }
    const storage::upload_record& slot = **row;
    const std::string_view auth = req[http::field::authorization];
    if (!auth.starts_with("Bearer ") || upload::sha256_hex(auth.substr(7)) != slot.secret_sha256) {
        co_return co_await refuse(http::status::forbidden, "a valid upload token is required (Authorization: Bearer)");
    }
    const std::int64_t now = unix_now();
    if (slot.state != storage::upload_state::pending) {
        co_return co_await refuse(http::status::conflict, "this slot was used already");
    }
    if (slot.expires_at <= now) {
        co_return co_await refuse(http::status::gone, "this slot expired; ask for a new one");
    }
    if (!length) {
        co_return co_await refuse(http::status::length_required, "Content-Length is required");
    }
    if (*length != static_cast<std::uint64_t>(slot.size)) {
        co_return co_await refuse(http::status::bad_request,
                                  "Content-Length must be the slot's size (" + std::to_string(slot.size) + ")");
    }
    if (!slot.content_type.empty() &&
        upload::media_type(req[http::field::content_type]) != upload::media_type(slot.content_type)) {
        co_return co_await refuse(http::status::unsupported_media_type,
                                  "Content-Type must be the slot's (" + slot.content_type + ")");
    }
    // Single use from here: the claim is one conditional write, so two racing PUTs cannot both pass.
    auto claimed = co_await service.store().run([&slot, now](storage::store& s) {
        return s.claim_upload_slot(slot.id, slot.secret_sha256, now, now + upload_service::body_deadline);
    });
    if (!claimed || !*claimed) {
        co_return co_await refuse(claimed ? http::status::conflict : http::status::internal_server_error,
                                  claimed ? "this slot was used already" : "storage failure, try again later");
    }
    const auto part = service.part_path(slot.id);
    auto forget = [&service, &slot, &part]() -> asio::awaitable<void> {
        ::unlink(part.c_str());
        // A failure leaves the row to expire and the sweeper to delete it.
        auto deleted = co_await service.store().run([id = slot.id](storage::store& s) { return s.delete_upload(id); });
        (void)deleted;
    };
    fd_guard fd(::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640));
    if (fd.get() < 0) {
        spdlog::error("upload http {}: cannot create {}: {}", peer, part.string(), std::strerror(errno));
        co_await forget();
        co_return co_await refuse(http::status::internal_server_error, "the file could not be stored");
    }
    if (req[http::field::expect] == "100-continue") {
        http::response<http::empty_body> go_on{http::status::continue_, req.version()};
        lowest(stream).expires_after(io_timeout);
        auto [ec, n] = co_await http::async_write(stream, go_on, tuple_awaitable);
        if (ec) {
            co_await forget();
            co_return false;
        }
    }
    const auto failed = co_await receive_body(stream, buffer, header, static_cast<std::uint64_t>(slot.size), fd.get());
    if (failed || !fd.close_checked()) {
        spdlog::info("upload http {}: PUT {} failed: {}", peer, slot.id, failed.value_or("close failed"));
        co_await forget();
        // The request is over (or the connection is): answer if the peer still listens, then close.
        co_return co_await reply_text(stream, options, req, http::status::bad_request,
                                      failed.value_or("the file could not be written"), false);
    }
    const auto file = service.file_path(slot.id);
    if (::rename(part.c_str(), file.c_str()) != 0) {
        spdlog::error("upload http {}: cannot rename {}: {}", peer, part.string(), std::strerror(errno));
        co_await forget();
        co_return co_await reply_text(stream, options, req, http::status::internal_server_error,
                                      "the file could not be stored", false);
    }
    const std::int64_t done_at = unix_now();
    auto finished = co_await service.store().run([id = slot.id, done_at, keep = options.expire_after.count()](
                                                     storage::store& s) { return s.finish_upload(id, done_at, done_at + keep); });
    if (!finished || !*finished) {
        // Swept or deleted with its account meanwhile: the file goes too.
        ::unlink(file.c_str());
        co_return co_await reply_text(stream, options, req, http::status::gone, "the slot is gone", false);
    }
    spdlog::info("upload http {}: stored {} ({} bytes) for {}@{}", peer, slot.id, slot.size, slot.username,
                 slot.domain);
    co_return co_await reply_text(stream, options, req, http::status::created, "stored", true);
}

template <class Stream>
asio::awaitable<bool> get_file(upload_service& service, Stream& stream, const http::request<http::empty_body>& req,
                               const upload::file_path& path, const std::string& peer) {
    const upload_config& options = service.options();
    auto row = co_await service.store().read([id = path.id](storage::store& s) { return s.get_upload(id); });
    if (!row) {
        spdlog::error("upload http {}: GET {}: {}", peer, path.id, row.error().message);
        co_return co_await reply_text(stream, options, req, http::status::internal_server_error,
                                      "storage failure, try again later", true);
    }
    const std::int64_t now = unix_now();
    if (!*row || (*row)->filename != path.filename || (*row)->state != storage::upload_state::stored ||
        (*row)->expires_at <= now) {
        co_return co_await reply_text(stream, options, req, http::status::not_found, "no such file", true);
    }
    const storage::upload_record& stored = **row;
    fd_guard fd(::open(service.file_path(stored.id).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        co_return co_await reply_text(stream, options, req, http::status::not_found, "no such file", true);
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const std::string etag = "\"" + stored.id + "\"";
    const auto range = upload::parse_range(req[http::field::range], size);
    if (range.what == upload::byte_range::kind::unsatisfiable) {
        text_response res{http::status::range_not_satisfiable, req.version()};
        common_headers(res, options, req);
        res.set(http::field::content_range, "bytes */" + std::to_string(size));
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.body() = "the range is outside the file\n";
        res.prepare_payload();
        res.keep_alive(req.keep_alive());
        lowest(stream).expires_after(io_timeout);
        auto [ec, n] = co_await http::async_write(stream, res, tuple_awaitable);
        co_return !ec && res.keep_alive();
    }
    const bool partial = range.what == upload::byte_range::kind::partial;
    const std::uint64_t first = partial ? range.first : 0;
    const std::uint64_t length = partial ? range.last - range.first + 1 : size;

    http::response<http::buffer_body> res{partial ? http::status::partial_content : http::status::ok, req.version()};
    common_headers(res, options, req);
    res.set(http::field::content_type,
            stored.content_type.empty() ? std::string("application/octet-stream") : stored.content_type);
    res.set(http::field::etag, etag);
    res.set(http::field::last_modified, http_date(stored.uploaded_at));
    res.set(http::field::accept_ranges, "bytes");
    res.set(http::field::cache_control,
            "public, max-age=" + std::to_string(std::max<std::int64_t>(0, stored.expires_at - now)) + ", immutable");
    // User content must never run script on this origin (the admin page lives here too).
    res.set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox");
    res.set(http::field::content_disposition, std::string(upload::shown_inline(stored.content_type) ? "inline" : "attachment") +
                                                  "; filename*=UTF-8''" + percent_encode(stored.filename));
    if (partial) {
        res.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" +
                                                std::to_string(range.last) + "/" + std::to_string(size));
    }
    res.content_length(length);
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::head) {
        http::response<http::empty_body> head{res.result(), req.version()};
        head.base() = res.base();
        lowest(stream).expires_after(io_timeout);
        auto [ec, n] = co_await http::async_write(stream, head, tuple_awaitable);
        co_return !ec && req.keep_alive();
    }
    res.body().data = nullptr;
    res.body().more = true;
    http::response_serializer<http::buffer_body> serializer(res);
    lowest(stream).expires_after(io_timeout);
    if (auto [ec, n] = co_await http::async_write_header(stream, serializer, tuple_awaitable); ec) {
        co_return false;
    }
    std::vector<char> chunk(chunk_size);
    std::uint64_t offset = first;
    std::uint64_t remaining = length;
    do {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), remaining));
        const ssize_t got = want == 0 ? 0 : ::pread(fd.get(), chunk.data(), want, static_cast<off_t>(offset));
        if (got < 0 || (want > 0 && got == 0)) {
            spdlog::error("upload http {}: reading {} failed", peer, stored.id);
            co_return false;  // the response is cut short: the client sees a short body
        }
        offset += static_cast<std::uint64_t>(got);
        remaining -= static_cast<std::uint64_t>(got);
        res.body().data = got > 0 ? chunk.data() : nullptr;
        res.body().size = static_cast<std::size_t>(got);
        res.body().more = remaining > 0;
        lowest(stream).expires_after(io_timeout);
        auto [ec, n] = co_await http::async_write(stream, serializer, tuple_awaitable);
        if (ec == http::error::need_buffer) {
            ec = {};
        }
        if (ec) {
            co_return false;
        }
    } while (remaining > 0);
    co_return req.keep_alive();
}

}  // namespace

bool upload_handles(std::string_view path) {
    return path.starts_with("/upload/");
}

template <class Stream>
asio::awaitable<bool> serve_upload(upload_service& service, Stream& stream, beast::flat_buffer& buffer,
                                   header_parser& header, std::string peer) {
    // A copy: a body to drop takes the parser.
    const http::request<http::empty_body> req = header.get();
    const upload_config& options = service.options();
    const std::string_view target = req.target();
    const std::string_view path_only = target.substr(0, target.find('?'));
    const auto path = upload::parse_file_path(path_only);
    if (req.method() == http::verb::put && path) {
        co_return co_await put_file(service, stream, buffer, header, *path, peer);
    }
    const auto length = header.content_length();
    const bool bodiless = !header.chunked() && (!length || *length == 0);
    const bool consumed = co_await consume_body(stream, buffer, header);
    if (req.method() == http::verb::options) {
        co_return co_await preflight(stream, options, req) && consumed;
    }
    if (!path) {
        // Not an id and a name: nothing is looked up, nothing touches the file system.
        co_return co_await reply_text(stream, options, req, http::status::not_found, "no such file", consumed);
    }
    switch (req.method()) {
    case http::verb::get:
    case http::verb::head:
        if (!bodiless) {
            co_return co_await reply_text(stream, options, req, http::status::bad_request, "no body here", false);
        }
        co_return co_await get_file(service, stream, req, *path, peer);
    default:
        co_return co_await reply_text(stream, options, req, http::status::method_not_allowed,
                                      "only GET, HEAD, PUT and OPTIONS here", consumed);
    }
}

template asio::awaitable<bool> serve_upload<beast::tcp_stream>(upload_service&, beast::tcp_stream&,
                                                               beast::flat_buffer&, header_parser&, std::string);
template asio::awaitable<bool> serve_upload<beast::ssl_stream<beast::tcp_stream>>(
    upload_service&, beast::ssl_stream<beast::tcp_stream>&, beast::flat_buffer&, header_parser&, std::string);

}  // namespace hush
