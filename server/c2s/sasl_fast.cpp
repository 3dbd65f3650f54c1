// XEP-0484 FAST on the server side: logging in with a token (HT-SHA-256-*) and issuing one. Tokens are derived from
// the server secret and a random id (protocol/fast.hpp); the store keeps ids, expiry and the last count only.
#include "server/c2s/sasl_fast.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "protocol/fast.hpp"
#include "protocol/jid.hpp"
#include "protocol/xep0082.hpp"

namespace hush {

namespace {

constexpr std::size_t token_id_bytes = 16;

}  // namespace

boost::asio::awaitable<sasl_step> sasl_authenticator::fast(std::string_view mechanism, std::string initial,
                                                           fast_login login) {
    reset();
    if (!fast::find_mechanism(mechanism)) {
        co_return failure("invalid-mechanism");
    }
    auto parsed = fast::parse_initial_response(initial);
    if (!parsed) {
        co_return failure("malformed-request");
    }
    // Every refusal past this point is the same, whether the account, the client or the token exists or not.
    constexpr const char* refused = "credentials-expired";
    auto node = nodeprep(parsed->authcid);
    if (!node || node->empty() || login.agent_id.empty()) {
        co_return failure(refused);  // a token is some client's: without its id there is none to check
    }
    struct outcome {
        bool ok = false;
        bool pending = false;
        std::string token;
        bool aging = false;
    };
    // One job: the client's tokens read, the proof checked against each, and the one that matches — issued for
    // this very mechanism, so a token bound to the connection is never accepted without the binding — marked used
    // by a conditional write (a replayed count or an expired token changes nothing), invalidated in the same write
    // when the client says so. A missing account has no tokens: the same refusal, no write either way. Two HMACs
    // are computed whatever there is (a client has at most two tokens), so timing does not tell either.
    auto job = [domain = domain_, secret = server_secret_, username = *node, login, name = std::string(mechanism),
                hashed = std::move(parsed->hashed_token)](storage::store& s) -> storage::result<outcome> {
        auto tokens = s.get_fast_tokens(domain, username, login.agent_id);
        if (!tokens) {
            return hush::unexpected(tokens.error());
        }
        std::vector<storage::fast_token> candidates = std::move(*tokens);
        while (candidates.size() < 2) {
            candidates.push_back(storage::fast_token{login.agent_id, "-", "-", 0, 0, -1, 0});  // matches nothing
        }
        const storage::fast_token* match = nullptr;
        std::string matched_token;
        for (const auto& t : candidates) {
            const std::string token = fast::derive_token(secret, domain, username, login.agent_id, t.token_id);
            const bool proves = sasl::constant_time_equal(fast::initiator_hash(token, login.cb_data), hashed);
            if (proves && t.mechanism == name && match == nullptr) {
                match = &t;
                matched_token = token;
            }
        }
        outcome out;
        if (match == nullptr) {
            return out;
        }
        const std::int64_t now = unix_now();
        auto used = s.use_fast_token(domain, username, login.agent_id, match->token_id, login.count, now,
                                     unix_now_us(), login.invalidate);
        if (!used) {
            return hush::unexpected(used.error());
        }
        if (!*used) {
            return out;
        }
        auto pending = s.is_pending(domain, username);
        if (!pending) {
            return hush::unexpected(pending.error());
        }
        out = outcome{true, *pending, matched_token, fast::past_half_life(match->created_at, match->expires_at, now)};
        return out;
    };
    auto checked = co_await store_.run(std::move(job));
    if (!checked) {
        spdlog::error("sasl: FAST token lookup failed: {}", checked.error().message);
        co_return failure("temporary-auth-failure");
    }
    if (!checked->ok) {
        co_return failure(refused);
    }
    pending_ = checked->pending;
    sasl_step ok{sasl_step::kind::success, fast::responder_hash(checked->token, login.cb_data), {}, *node, {}};
    ok.fast_token_aging = checked->aging;
    co_return unless_pending(std::move(ok));
}

boost::asio::awaitable<std::optional<issued_fast_token>> issue_fast_token(storage::async_store& store,
                                                                          fast_token_request request) {
    const std::int64_t now = unix_now();
    storage::fast_token row{request.agent_id, sasl::random_hex(token_id_bytes), request.mechanism, unix_now_us(),
                            now + request.lifetime, -1, 0};
    issued_fast_token issued{
        fast::derive_token(request.server_secret, request.domain, request.username, request.agent_id, row.token_id),
        row.expires_at};
    auto job = [request, row, now](storage::store& s) -> storage::result<void> {
        // Expired tokens of every account go here: issuing is rare next to logging in, and the index makes it cheap.
        if (auto swept = s.delete_expired_fast_tokens(now); !swept) {
            return hush::unexpected(swept.error());
        }
        return s.put_fast_token(request.domain, request.username, row, request.max_clients);
    };
    auto stored = co_await store.run(std::move(job));
    if (!stored) {
        spdlog::warn("sasl: no FAST token for {}@{}: {}", request.username, request.domain, stored.error().message);
        co_return std::nullopt;
    }
    co_return issued;
}

}  // namespace hush
