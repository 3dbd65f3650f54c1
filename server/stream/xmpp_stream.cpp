#include "server/stream/xmpp_stream.hpp"

#include <spdlog/spdlog.h>

#include <array>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "protocol/jid.hpp"
#include "protocol/namespaces.hpp"
#include "protocol/scram.hpp"
#include "server/stream/connection_tracker.hpp"
#include "server/stream/supervised.hpp"

namespace hush {

namespace asio = boost::asio;
using asio::use_awaitable;
constexpr auto tuple_awaitable = asio::as_tuple(use_awaitable);

namespace {

constexpr std::size_t read_buffer_size = 8192;

// One read buffer per event-loop thread (a function, so a coroutine never keeps a stale thread-local address).
[[gnu::noinline]] char* thread_read_buffer() {
    static thread_local std::array<char, read_buffer_size> buffer;
    return buffer.data();
}
constexpr std::chrono::seconds close_grace{5};

// What the peer is told when one of our coroutines failed: the cause is in our log, not for the peer.
stream_error internal_error() { return stream_error{"internal-server-error", "the server failed on this stream"}; }

}  // namespace

xmpp_stream::xmpp_stream(tcp::socket socket, const limits_config& limits, std::string_view content_ns)
    : executor_(socket.get_executor()),
      limits_(limits),
      content_ns_(content_ns),
      socket_(std::move(socket)),
      parser_(xml::parser_limits{limits.max_stanza_bytes, limits.max_depth}),
      writer_wake_(executor_, std::chrono::steady_clock::time_point::max()),
      flushed_(executor_, std::chrono::steady_clock::time_point::max()),
      watchdog_timer_(executor_) {
    socket_connected();
    connected_at_ = last_activity_ = std::chrono::steady_clock::now();
}

xmpp_stream::xmpp_stream(std::unique_ptr<message_transport> transport, const limits_config& limits,
                         std::string_view content_ns)
    : executor_(transport->executor()),
      limits_(limits),
      peer_address_(transport->peer_address()),
      content_ns_(content_ns),
      socket_(executor_),
      transport_(std::move(transport)),
      framing_out_(std::in_place, content_ns, limits.max_outbox_bytes),
      parser_(xml::parser_limits{limits.max_stanza_bytes, limits.max_depth}),
      writer_wake_(executor_, std::chrono::steady_clock::time_point::max()),
      flushed_(executor_, std::chrono::steady_clock::time_point::max()),
      watchdog_timer_(executor_) {
    connected_at_ = last_activity_ = std::chrono::steady_clock::now();
}

void xmpp_stream::socket_connected() {
    boost::system::error_code ec;
    const auto endpoint = raw_socket().remote_endpoint(ec);
    peer_address_ = ec ? "unknown" : address_text(endpoint.address());
    // The writer already sends what is queued in one go; Nagle's algorithm would only hold an answer back until
    // the peer's delayed ACK (milliseconds per exchange at low load).
    raw_socket().set_option(tcp::no_delay(true), ec);
}

void xmpp_stream::start() {
    auto self = shared_from_this();
    spawn_supervised(
        executor_, [self] { return self->log_name() + " reader"; }, [self] { return self->reader(); },
        [self] { self->reader_failed(); });
    spawn_supervised(
        executor_, [self] { return self->log_name() + " writer"; }, [self] { return self->writer(); },
        [self] { self->writer_failed(); });
    spawn_supervised(
        executor_, [self] { return self->log_name() + " watchdog"; }, [self] { return self->watchdog(); },
        [self] { self->watchdog_failed(); });
}

void xmpp_stream::reader_failed() {
    begin_close(internal_error());
    // The rest of the reader's work, on a coroutine of its own; should that fail too, at least drop the connection.
    auto self = shared_from_this();
    spawn_supervised(
        executor_, [self] { return self->log_name() + " teardown"; }, [self] { return self->finish_input(); },
        [self] { self->close_socket(); });
}

void xmpp_stream::writer_failed() {
    // Nothing reaches the peer without the writer: the error is ours to log only. Closing the socket ends the
    // reader's read, and the reader tears the stream down as on any disconnect.
    begin_close(internal_error());
    close_socket();
}

void xmpp_stream::watchdog_failed() {
    begin_close(internal_error());
    // The close still needs its deadline (a peer that does not read): a fresh watchdog enforces it.
    auto self = shared_from_this();
    spawn_supervised(
        executor_, [self] { return self->log_name() + " watchdog (restarted)"; },
        [self] { return self->watchdog(); }, [self] { self->close_socket(); });
}

xmpp_stream::tcp::socket& xmpp_stream::raw_socket() { return socket_; }

void xmpp_stream::close_socket() {
    if (socket_closed_) {
        return;
    }
    socket_closed_ = true;
    if (transport_) {
        transport_->abort();
    } else {
        boost::system::error_code ec;
        raw_socket().shutdown(tcp::socket::shutdown_both, ec);
        raw_socket().close(ec);
    }
    writer_wake_.cancel();
    flushed_.cancel();
    watchdog_timer_.cancel();
}

// ---- output ---------------------------------------------------------------------------------------------------

void xmpp_stream::deliver(shared_bytes serialized) {
    asio::dispatch(executor_, [weak = weak_from_this(), bytes = std::move(serialized)]() mutable {
        if (auto self = weak.lock()) {
            self->enqueue(std::move(bytes));
        }
    });
}

void xmpp_stream::close(stream_error error) {
    asio::dispatch(executor_, [weak = weak_from_this(), error = std::move(error)]() mutable {
        if (auto self = weak.lock()) {
            self->begin_close(std::move(error));
        }
    });
}

std::string xmpp_stream::new_stream_id() { return sasl::random_hex(16); }

void xmpp_stream::send(std::string bytes) { enqueue(share(std::move(bytes))); }

void xmpp_stream::enqueue(shared_bytes bytes) {
    if (closing_ || socket_closed_) {
        return;
    }
    outbox_bytes_ += bytes->size();
    outbox_.push_back(std::move(bytes));
    if (outbox_bytes_ > limits_.max_outbox_bytes) {
        // A reader this slow would make us buffer without bound: drop what is queued and close.
        spdlog::warn("{}: outbox over {} bytes, closing", log_name(), limits_.max_outbox_bytes);
        outbox_.clear();
        outbox_bytes_ = 0;
        begin_close(stream_error{"resource-constraint", "too much data queued for a slow reader"});
        return;
    }
    writer_wake_.cancel();
}

asio::awaitable<void> xmpp_stream::writer() {
    auto self = shared_from_this();
    while (!socket_closed_) {
        if (outbox_.empty()) {
            flushed_.cancel();
            if (closing_) {
                break;
            }
            co_await writer_wake_.async_wait(tuple_awaitable);
            continue;
        }
        // Take everything queued so far (at most max_outbox_bytes) and write it in one gathered call. The swap
        // leaves an empty vector without capacity behind: an idle connection holds no queue.
        std::vector<shared_bytes> in_flight;
        in_flight.swap(outbox_);
        std::vector<asio::const_buffer> batch;
        batch.reserve(in_flight.size());
        std::size_t in_flight_bytes = 0;
        for (const auto& b : in_flight) {
            in_flight_bytes += b->size();
            batch.emplace_back(asio::buffer(*b));
        }
        writing_ = true;
        boost::system::error_code ec;
        if (transport_) {
            ec = co_await write_messages(in_flight);
        } else if (tls_ && batch.size() == 1) {
            ec = co_await tls_->write(socket_, batch.front());
        } else if (tls_) {
            // One SSL_write for the whole batch: records of up to 16 KiB and one write(2) each, instead of a record
            // and a system call per stanza.
            std::string joined;
            joined.reserve(asio::buffer_size(batch));
            for (const auto& b : batch) {
                joined.append(static_cast<const char*>(b.data()), b.size());
            }
            ec = co_await tls_->write(socket_, asio::buffer(joined));
        } else {
            std::tie(ec, std::ignore) = co_await asio::async_write(socket_, batch, tuple_awaitable);
        }
        writing_ = false;
        // Counted until written, so queued plus in flight stays under the limit; the over-limit path may have
        // zeroed the count meanwhile.
        outbox_bytes_ -= std::min(outbox_bytes_, in_flight_bytes);
        if (ec) {
            closing_ = true;
            outbox_.clear();
            outbox_bytes_ = 0;
            break;
        }
    }
    if (transport_ && !socket_closed_) {
        co_await transport_->close();  // the WebSocket closing handshake; the watchdog bounds it
    }
    close_socket();
}

asio::awaitable<boost::system::error_code> xmpp_stream::write_messages(const std::vector<shared_bytes>& batch) {
    std::vector<std::string> messages;
    for (const auto& bytes : batch) {
        if (!framing_out_->push(*bytes, messages)) {
            spdlog::error("{}: output that is not whole elements, closing", log_name());
            co_return boost::system::errc::make_error_code(boost::system::errc::protocol_error);
        }
    }
    for (const auto& message : messages) {
        if (auto ec = co_await transport_->write(message)) {
            co_return ec;
        }
    }
    co_return boost::system::error_code{};
}

asio::awaitable<void> xmpp_stream::wait_flushed() {
    while ((!outbox_.empty() || writing_) && !socket_closed_) {
        flushed_.expires_at(std::chrono::steady_clock::time_point::max());
        co_await flushed_.async_wait(tuple_awaitable);
    }
}

void xmpp_stream::begin_close(std::optional<stream_error> error) {
    if (closing_ || socket_closed_) {
        return;
    }
    if (error) {
        close_condition_ = error->condition;
        if (!header_sent_) {
            // RFC 6120 §4.9.1.1: an error before our header still needs a header to be well-formed.
            send("<?xml version='1.0'?><stream:stream xmlns='" + std::string(content_ns_) +
                 "' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
            header_sent_ = true;
        }
        spdlog::info("{}: stream error {}{}{}", log_name(), error->condition, error->text.empty() ? "" : ": ",
                     error->text);
        send(serialize_stream_error(*error));
    }
    if (header_sent_) {
        send("</stream:stream>");
    }
    closing_ = true;
    close_deadline_ = std::chrono::steady_clock::now() + close_grace;
    watchdog_timer_.cancel();
    writer_wake_.cancel();
    on_close_begun();
}

// ---- watchdog ---------------------------------------------------------------------------------------------------

asio::awaitable<void> xmpp_stream::watchdog() {
    auto self = shared_from_this();
    while (!socket_closed_) {
        const auto now = std::chrono::steady_clock::now();
        std::chrono::steady_clock::time_point deadline;
        if (closing_) {
            if (now >= close_deadline_) {
                close_socket();  // the peer does not read: give up on a clean close
                break;
            }
            deadline = close_deadline_;
        } else {
            const auto idle_deadline = last_activity_ + idle_timeout();
            const auto handshake_deadline = connected_at_ + handshake_timeout();
            if (!negotiated() && now >= handshake_deadline) {
                begin_close(stream_error{"connection-timeout", "negotiation took too long"});
                continue;
            }
            if (now >= idle_deadline) {
                on_idle();
                if (!closing_) {
                    touch();  // on_idle() chose to stay open
                }
                continue;
            }
            const auto own_deadline = timer_deadline();
            if (now >= own_deadline) {
                on_timer();
                continue;
            }
            deadline = !negotiated() ? std::min(idle_deadline, handshake_deadline) : idle_deadline;
            deadline = std::min(deadline, own_deadline);
        }
        watchdog_timer_.expires_at(deadline);
        co_await watchdog_timer_.async_wait(tuple_awaitable);
    }
}

// ---- input ------------------------------------------------------------------------------------------------------

asio::awaitable<bool> xmpp_stream::start_tls_server(std::shared_ptr<asio::ssl::context> context) {
    tls_context_ = std::move(context);
    tls_ = std::make_unique<tls_connection>(tls_context_->native_handle(), socket_, tls_connection::role::server);
    const auto ec = co_await tls_->handshake(socket_);
    if (ec) {
        spdlog::info("{}: TLS handshake failed: {}", log_name(), ec.message());
        co_return false;
    }
    co_return true;
}

asio::awaitable<bool> xmpp_stream::accept_starttls(std::shared_ptr<asio::ssl::context> context) {
    send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    co_await wait_flushed();
    if (socket_closed_ || !co_await start_tls_server(std::move(context))) {
        close_socket();
        co_return false;
    }
    restart_stream();
    co_return true;
}

asio::awaitable<bool> xmpp_stream::start_tls_client(std::shared_ptr<asio::ssl::context> context,
                                                    const std::string& server_name) {
    tls_context_ = std::move(context);
    // SNI lets a peer hosting many domains pick the right certificate (RFC 6120 §13.7.1.2).
    tls_ = std::make_unique<tls_connection>(tls_context_->native_handle(), socket_, tls_connection::role::client,
                                            server_name.c_str());
    const auto ec = co_await tls_->handshake(socket_);
    if (ec) {
        spdlog::info("{}: TLS handshake failed: {}", log_name(), ec.message());
        co_return false;
    }
    co_return true;
}

std::optional<std::string> xmpp_stream::accept_stream_header(const xml::stream_open& header,
                                                             const std::function<bool(std::string_view)>& is_local,
                                                             const std::string& current_domain) {
    if (header.stream_ns != ns::streams || header.local_name != "stream") {
        begin_close(stream_error{"invalid-namespace", "the root element must be stream:stream"});
        return std::nullopt;
    }
    if (header.content_ns != content_ns_) {
        begin_close(stream_error{"invalid-namespace", "this port serves " + std::string(content_ns_)});
        return std::nullopt;
    }
    auto host = nameprep(header.to);
    if (!host || !is_local(*host)) {
        begin_close(stream_error{"host-unknown", "this server does not serve '" + header.to + "'"});
        return std::nullopt;
    }
    if (!current_domain.empty() && *host != current_domain) {
        begin_close(stream_error{"host-unknown", "the stream restarted for another host"});
        return std::nullopt;
    }
    if (header.version.empty() || header.version.front() < '1') {
        begin_close(stream_error{"unsupported-version", "XMPP 1.0 is required"});
        return std::nullopt;
    }
    return host;
}

asio::awaitable<void> xmpp_stream::handle_event(xml::stream_event& event) {
    if (auto* open = std::get_if<xml::stream_open>(&event)) {
        handle_stream_open(*open);
        co_return;
    }
    if (std::holds_alternative<xml::stream_close>(event)) {
        peer_closed_ = !closing_;
        begin_close(std::nullopt);
        co_return;
    }
    co_await handle_element(std::move(std::get<xml::top_level_element>(event).element));
}

asio::awaitable<void> xmpp_stream::reader() {
    auto self = shared_from_this();
    spdlog::debug("{}: connected", log_name());
    if (!co_await on_connected()) {
        close_socket();
        co_return;
    }
    if (transport_) {
        co_await read_messages();
        co_await finish_input();
        co_return;
    }
    boost::system::error_code mode_ec;
    socket_.non_blocking(true, mode_ec);
    while (!socket_closed_) {
        // The bytes land in the thread's buffer and are parsed before anything else runs on this thread, so an
        // idle stream holds no read buffer of its own.
        char* buffer = thread_read_buffer();
        boost::system::error_code ec;
        std::size_t n = 0;
        if (tls_) {
            std::tie(ec, n) = co_await tls_->read_some(socket_, asio::buffer(buffer, read_buffer_size));
        } else {
            n = socket_.read_some(asio::buffer(buffer, read_buffer_size), ec);
            if (ec == asio::error::would_block || ec == asio::error::try_again) {
                std::tie(ec) = co_await socket_.async_wait(tcp::socket::wait_read, tuple_awaitable);
                if (ec) {
                    break;
                }
                continue;
            }
        }
        if (ec) {
            break;
        }
        buffer = thread_read_buffer();  // the same thread's, looked up again after the wait
        last_activity_ = std::chrono::steady_clock::now();
        if (closing_) {
            continue;  // draining until the peer closes or the grace period ends
        }
        co_await parse(std::string_view(buffer, n));
    }
    co_await finish_input();
}

asio::awaitable<void> xmpp_stream::parse(std::string_view bytes) {
    std::vector<xml::stream_event> events;  // per read: an idle stream keeps no capacity
    auto error = parser_.feed(bytes, events);
    for (auto& event : events) {
        co_await handle_event(event);
        if (closing_ || restart_stream_) {
            break;
        }
    }
    if (restart_stream_) {
        // Anything the client sent after the restart point belongs to a stream it must not have started yet.
        restart_stream_ = false;
        header_sent_ = false;
        framed_open_ = false;
        parser_.reset();
        on_stream_restart();
        co_return;
    }
    if (error && !closing_) {
        begin_close(std::move(*error));
    }
}

asio::awaitable<void> xmpp_stream::read_messages() {
    auto self = shared_from_this();
    transport_->on_activity([weak = weak_from_this()] {
        if (auto stream = weak.lock()) {
            stream->touch();
        }
    });
    std::string message;
    while (!socket_closed_) {
        bool text = true;
        message.clear();
        if (auto ec = co_await transport_->read(message, text)) {
            spdlog::debug("{}: WebSocket read ended: {}", log_name(), ec.message());
            break;
        }
        touch();
        if (closing_) {
            continue;  // draining until the peer closes or the grace period ends
        }
        if (!text) {
            begin_close(stream_error{"bad-format", "XMPP over WebSocket is sent in text messages (RFC 7395 §3.2)"});
            continue;
        }
        auto in = websocket_framing::from_client(message, content_ns_);
        using kind = websocket_framing::inbound::kind;
        if (in.what == kind::error) {
            begin_close(stream_error{in.condition, in.text});
            continue;
        }
        if ((in.what == kind::open) == framed_open_) {
            begin_close(stream_error{"bad-format", framed_open_ ? "the stream is already open"
                                                                : "the first message must be <open/> (RFC 7395 §3.4)"});
            continue;
        }
        framed_open_ = true;
        co_await parse(in.bytes);
    }
}

asio::awaitable<void> xmpp_stream::finish_input() {
    auto self = shared_from_this();
    spdlog::debug("{}: disconnected", log_name());
    if (!closing_) {
        begin_close(std::nullopt);
    }
    if (!disconnected_) {
        disconnected_ = true;  // once, even if it throws: a failed teardown is not tried again
        co_await on_disconnected();
    }
    // The writer flushes what is left and closes the socket; the watchdog enforces the grace period.
    writer_wake_.cancel();
}

}  // namespace hush
