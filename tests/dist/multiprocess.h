// Multi-process tests on 127.0.0.1: the test binary re-runs itself as child processes, each with
// one test selected by --gtest_filter and its role in the environment (CL_TEST_ROLE, RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ...). A child test without CL_TEST_ROLE skips itself,
// so the child tests are harmless in a normal run. Children are killed at a deadline, so a
// hanging collective fails the test instead of hanging it.
#pragma once
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace closerlook::testing {

// A TCP port that was free a moment ago (bound to port 0, then released).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

inline std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("cl_dist_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

inline const char* role() {
  const char* r = std::getenv("CL_TEST_ROLE");
  return (r && *r) ? r : nullptr;
}

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}

struct Child {
  pid_t pid = -1;
  std::string log;  // stdout + stderr
  int status = -1;  // exit code, 128 + signal, or -1 while running
  double seconds = 0;
};

// Starts `exe args...` with `env` added to this process's environment; output goes to `log`.
inline Child spawn(const std::string& exe, const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& env, const std::string& log) {
  Child c;
  c.log = log;
  c.pid = ::fork();
  if (c.pid == 0) {
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  return c;
}

// The test binary itself, running one child test.
inline Child spawn_self(const std::string& test, const std::map<std::string, std::string>& env,
                        const std::string& log) {
  return spawn(std::filesystem::read_symlink("/proc/self/exe").string(), {"--gtest_filter=" + test}, env, log);
}

// Waits for all children; those still running at the deadline are killed (status 128 + 9).
inline void wait_all(std::vector<Child>& cs, double timeout_s) {
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  size_t running = cs.size();
  while (running > 0) {
    running = 0;
    for (auto& c : cs) {
      if (c.status != -1) continue;
      int st = 0;
      pid_t r = ::waitpid(c.pid, &st, WNOHANG);
      if (r == c.pid) {
        c.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        c.seconds = elapsed();
      } else if (elapsed() > timeout_s) {
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, &st, 0);
        c.status = 128 + SIGKILL;
        c.seconds = elapsed();
      } else {
        ++running;
      }
    }
    if (running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Environment of rank r of n meeting at 127.0.0.1:port.
inline std::map<std::string, std::string> rank_env(const std::string& role, int r, int n, int port) {
  return {{"CL_TEST_ROLE", role},
          {"RANK", std::to_string(r)},
          {"WORLD_SIZE", std::to_string(n)},
          {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", std::to_string(port)},
          {"CL_DIST_TIMEOUT", "20"},
          {"OMP_NUM_THREADS", "1"}};
}

// Runs `test` as ranks 0..n-1 with `extra` environment; returns the children after they end.
inline std::vector<Child> run_ranks(const std::string& test, const std::string& role, int n, const std::string& dir,
                                    const std::map<std::string, std::string>& extra = {}, double timeout_s = 120) {
  const int port = free_port();
  std::vector<Child> cs;
  for (int r = 0; r < n; ++r) {
    auto env = rank_env(role, r, n, port);
    for (const auto& [k, v] : extra) env[k] = v;
    cs.push_back(spawn_self(test, env, dir + "/rank" + std::to_string(r) + ".log"));
  }
  wait_all(cs, timeout_s);
  return cs;
}

inline std::string describe(const std::vector<Child>& cs) {
  std::string s;
  for (size_t r = 0; r < cs.size(); ++r)
    s += "--- rank " + std::to_string(r) + " exit " + std::to_string(cs[r].status) + " after " +
         std::to_string(cs[r].seconds) + " s:\n" + slurp(cs[r].log) + "\n";
  return s;
}

}  // namespace closerlook::testing
