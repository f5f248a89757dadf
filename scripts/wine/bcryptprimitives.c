/* A stand-in for Windows' bcryptprimitives.dll, for running the windows_amd64 release binary under Wine 8.0
 * (Debian 12), which does not ship that DLL. Rust's standard library (1.78 and later) takes its random bytes
 * from ProcessPrng, exported by bcryptprimitives.dll on Windows 10 and later; here ProcessPrng asks Wine's
 * bcrypt.dll for the system RNG instead (BCryptGenRandom with BCRYPT_USE_SYSTEM_PREFERRED_RNG).
 * Used only by scripts/release.sh's handshake check; never part of a release.
 * ProcessPrng: https://learn.microsoft.com/windows/win32/seccng/processprng */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG))) return FALSE;
    data += chunk;
    len -= chunk;
  }
  return TRUE;
}
