#pragma once
// XEP-0363 HTTP File Upload: the services at [upload] services (upload.<host> by default; server/upload/README.md,
// docs/upload.md). The router hands it every stanza to a service's domain with the authenticated sender; it
// answers disco and slot requests into the caller's `outgoing` (nothing here routes). Only the accounts of the host
// a service belongs to get slots: a remote sender, or another host's account, is refused — nobody else can put a
// file on this server. The HTTP side (upload_http) serves the slots' PUTs and the files' GETs with what this
// service holds; `sweep` deletes what expired.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "protocol/jid.hpp"
#include "protocol/outgoing.hpp"
#include "protocol/stanza.hpp"
#include "server/config/config.hpp"
#include "storage/async_store.hpp"

namespace hush {

class upload_service {
public:
    // `base_url()`: the base of the slots' URLs (no trailing slash); asked per slot, so that a URL derived from a
    // listener's port bound at run time ([upload] public_url not set, port 0 in tests) is right.
    using url_source = std::function<std::string()>;
    upload_service(storage::async_store& store, const upload_config& options, url_source base_url);

    bool serves(std::string_view domain) const;
    const std::vector<std::string>& domains() const { return options_.services; }
    // The services whose slots the accounts of `host` may ask for.
    std::vector<std::string> services_of(std::string_view host) const;
    const upload_config& options() const { return options_; }
    storage::async_store& store() { return store_; }

    // A stanza to a service's domain; `from` is the authenticated sender, `local_sender` whether it came from one of
    // this server's client sessions (never a remote server's claim).
    boost::asio::awaitable<void> handle(const stanza& s, const jid& from, const jid& to, bool local_sender,
                                        outgoing& out);

    // Where a slot's file lives: <directory>/<id> once uploaded, <directory>/<id>.part while its PUT runs. `id` must
    // be valid (upload::valid_id): nothing else reaches the file system.
    std::filesystem::path file_path(const std::string& id) const { return options_.directory / id; }
    std::filesystem::path part_path(const std::string& id) const { return options_.directory / (id + ".part"); }

    // Deletes expired slots and files (rows and files), unfinished .part files whose slot is gone, and files without
    // a row (an account deleted, a crash between the file and its row). Run periodically by the server; a storage
    // failure is logged and the next sweep tries again.
    boost::asio::awaitable<void> sweep();
    static constexpr std::chrono::seconds sweep_every{60};

    // How long a PUT's body may take to arrive, from the claim (the row stays `uploading` until then).
    static constexpr std::int64_t body_deadline = 3600;

    static std::vector<std::string> service_features();

private:
    // The host whose accounts may use `service`; empty when not one of ours.
    std::string host_of(std::string_view service) const;
    boost::asio::awaitable<stanza> request_slot(const stanza& iq, const jid& from, const std::string& host);
    stanza disco_info(const stanza& iq) const;

    storage::async_store& store_;
    const upload_config& options_;
    url_source base_url_;
};

}  // namespace hush
