#pragma once
// Fault injection for the integration tests: a way to make a session fail as a bug would, so that a test can see
// what supervision (server/stream/supervised.hpp) does about it. Compiled in only with meson's test_hooks option
// (auto: on, except in release builds), and even then inert unless its environment variable is set. Not a config
// key on purpose: nothing in hush.toml can switch it on.
#include <string_view>

namespace hush::test_hooks {

#ifdef HUSH_TEST_HOOKS

// HUSH_TEST_FAIL_STANZA_ID=<id>: a client stanza with this id makes its c2s session's stanza handling throw
// (std::runtime_error), as a bug on the data path would. Does nothing for any other id, or without the variable.
void fail_if_marked(std::string_view stanza_id);
// Warns in the log, once at start-up, about each hook the environment switched on.
void announce();

#else

inline void fail_if_marked(std::string_view /*stanza_id*/) {}
inline void announce() {}

#endif

}  // namespace hush::test_hooks
