package sys

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

func shmDir() string { return os.TempDir() }

// openShm opens with FILE_SHARE_DELETE, so that Remove works while
// processes have the segment open, as unlink does on Unix.
func openShm(path string, create bool) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	disposition := uint32(windows.OPEN_EXISTING)
	if create {
		disposition = windows.CREATE_NEW
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, disposition, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(h), path), nil
}

// Windows SDK names that x/sys/windows v0.49.0 lacks, kept unexported with
// a leading underscore as internal/futex does. x/sys has the info classes
// (FileRenameInfo, FileDispositionInfoEx) and the flag values under their
// ntddk names (FILE_DISPOSITION_DELETE, FILE_DISPOSITION_POSIX_SEMANTICS),
// but neither structure.
const (
	// https://learn.microsoft.com/en-us/windows/win32/api/winbase/ns-winbase-file_disposition_info_ex
	_FILE_DISPOSITION_FLAG_DELETE          = 0x00000001
	_FILE_DISPOSITION_FLAG_POSIX_SEMANTICS = 0x00000002
)

// _FILE_DISPOSITION_INFO_EX, for FileDispositionInfoEx:
// https://learn.microsoft.com/en-us/windows/win32/api/winbase/ns-winbase-file_disposition_info_ex
type _FILE_DISPOSITION_INFO_EX struct {
	Flags uint32
}

// _FILE_RENAME_INFO, for FileRenameInfo:
// https://learn.microsoft.com/en-us/windows/win32/api/winbase/ns-winbase-file_rename_info
//
// FileName is variable-length: FileNameLength bytes of UTF-16, not counting
// the NUL that must follow them (Wine reads the name as a NUL-terminated
// string). Flags shares its first byte with the BOOLEAN ReplaceIfExists, so
// zero means "do not replace" under either reading; the C union is 4 bytes,
// aligned as the DWORD is, as here.
type _FILE_RENAME_INFO struct {
	Flags          uint32
	RootDirectory  windows.Handle
	FileNameLength uint32
	FileName       [1]uint16
}

// hiddenName returns a path in dir named "~shmkit-<kind>-" and 16 random hex
// digits: the tilde keeps it out of listings of segments and leak checks,
// which look for names starting with Prefix.
func hiddenName(dir, kind string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(dir, "~"+Prefix+kind+"-"+hex.EncodeToString(b[:])), nil
}

// unlinkShm frees the name at path at once, as unlink(2) does, even while
// processes have the file open or mapped. DeleteFile (os.Remove) only marks
// an open file for deletion where the file system lacks POSIX delete
// semantics, and the name stays until the last handle closes: Open still
// finds it and Create of it fails.
//
// It opens the name itself (FILE_FLAG_OPEN_REPARSE_POINT: a symbolic link
// goes, not its target, as with DeleteFile) and asks for a POSIX delete,
// which unlinks the name at once (NTFS on Windows 10 1709 and later). Where
// that is not supported it renames the file, through the same handle, to a
// hidden name in the same directory, then deletes that name, which lingers
// until the last handle closes. The order matters under Wine 8: a file
// renamed after it was marked for deletion survives its last close, and
// marking the renamed file through the handle fails with access denied, so
// the handle is closed and the new name removed by path.
func unlinkShm(path string) error {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	h, err := windows.CreateFile(p, windows.DELETE|windows.SYNCHRONIZE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	info := _FILE_DISPOSITION_INFO_EX{Flags: _FILE_DISPOSITION_FLAG_DELETE | _FILE_DISPOSITION_FLAG_POSIX_SEMANTICS}
	// Sound: info outlives the call, which only reads Sizeof(info) bytes.
	err = windows.SetFileInformationByHandle(h, windows.FileDispositionInfoEx,
		(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
	switch err {
	case nil:
		windows.CloseHandle(h)
		return nil
	case windows.ERROR_INVALID_PARAMETER, // no such info class or flag: older Windows, Wine
		windows.ERROR_NOT_SUPPORTED,    // the file system has no POSIX delete: FAT
		windows.ERROR_INVALID_FUNCTION: // ditto, from some file system drivers
		// Rename, then delete, below.
	default:
		windows.CloseHandle(h)
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}

	var hidden string
	for range 100 {
		if hidden, err = hiddenName(filepath.Dir(path), "removed"); err != nil {
			break
		}
		err = renameByHandle(h, hidden)
		if err != windows.ERROR_ALREADY_EXISTS && err != windows.ERROR_FILE_EXISTS {
			break
		}
	}
	windows.CloseHandle(h)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	// The name at path is free now. This error, if any, names the hidden
	// file that is left behind.
	return os.Remove(hidden)
}

// renameByHandle renames the file open as h, with DELETE access, to newpath,
// failing if newpath exists.
func renameByHandle(h windows.Handle, newpath string) error {
	name, err := windows.UTF16FromString(newpath) // NUL-terminated
	if err != nil {
		return err
	}
	off := unsafe.Offsetof(_FILE_RENAME_INFO{}.FileName)
	size := max(off+uintptr(len(name))*2, unsafe.Sizeof(_FILE_RENAME_INFO{}))
	// A []uint64 so that the buffer is aligned for the Handle field.
	buf := make([]uint64, (size+7)/8)
	// Sound: buf holds at least size bytes, aligned to 8, and no Go pointers.
	info := (*_FILE_RENAME_INFO)(unsafe.Pointer(&buf[0]))
	info.Flags = 0 // do not replace an existing file
	info.RootDirectory = 0
	info.FileNameLength = uint32(len(name)-1) * 2
	// Sound: the name, NUL included, ends at off+len(name)*2 <= size.
	copy(unsafe.Slice((*uint16)(unsafe.Add(unsafe.Pointer(info), off)), len(name)), name)
	return windows.SetFileInformationByHandle(h, windows.FileRenameInfo,
		(*byte)(unsafe.Pointer(info)), uint32(size))
}

// memfdCreate makes an anonymous file the nearest way Windows has: a new
// file in os.TempDir() opened delete-on-close, so that the system deletes
// it when the last handle to it closes, however its process ends. Its name
// stays visible while it is open (deleting a name at once needs POSIX
// delete semantics, which not every file system or Wine has), so it starts
// with "~shmkit-anon-" rather than Prefix: listings of segments and leak
// checks pass it over. Every open shares delete access, as delete-on-close
// requires of later opens. The handle is not inheritable.
//
// FILE_ATTRIBUTE_TEMPORARY asks the cache manager to keep the pages in
// memory rather than write them out, which is what shared memory wants.
func memfdCreate(name string) (*os.File, error) {
	for range 100 {
		path, err := hiddenName(shmDir(), "anon")
		if err != nil {
			return nil, &fs.PathError{Op: "memfd_create", Path: name, Err: err}
		}
		p, err := windows.UTF16PtrFromString(path)
		if err != nil {
			return nil, &fs.PathError{Op: "memfd_create", Path: name, Err: err}
		}
		h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE|windows.DELETE,
			windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
			nil, windows.CREATE_NEW, windows.FILE_ATTRIBUTE_TEMPORARY|windows.FILE_FLAG_DELETE_ON_CLOSE, 0)
		if err == windows.ERROR_FILE_EXISTS {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "memfd_create", Path: path, Err: err}
		}
		return os.NewFile(uintptr(h), path), nil
	}
	return nil, &fs.PathError{Op: "memfd_create", Path: name, Err: fs.ErrExist}
}

// reopen is unsupported: nothing passes files to child processes on
// Windows yet (see process), so there is no inherited handle to replace.
func reopen(f *os.File) (*os.File, error) {
	return nil, &fs.PathError{Op: "reopen", Path: f.Name(), Err: errors.ErrUnsupported}
}

func tryLockByte(f *os.File, off int64) error {
	ol := windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	switch err {
	case nil:
		return nil
	case windows.ERROR_LOCK_VIOLATION, windows.ERROR_IO_PENDING:
		return ErrLocked
	}
	return &fs.PathError{Op: "lock", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
}

func unlockByte(f *os.File, off int64) error {
	ol := windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	if err := windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol); err != nil {
		return &fs.PathError{Op: "unlock", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
	}
	return nil
}

// byteLocked has no test-without-taking on Windows: take a shared lock and
// give it back at once.
func byteLocked(f *os.File, off int64) (bool, error) {
	ol := windows.Overlapped{Offset: uint32(off), OffsetHigh: uint32(off >> 32)}
	h := windows.Handle(f.Fd())
	err := windows.LockFileEx(h, windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	switch err {
	case nil:
		windows.UnlockFileEx(h, 0, 1, 0, &ol)
		return false, nil
	case windows.ERROR_LOCK_VIOLATION, windows.ERROR_IO_PENDING:
		return true, nil
	}
	return false, &fs.PathError{Op: "getlk", Path: f.Name(), Err: fmt.Errorf("byte %d: %w", off, err)}
}

func fallocate(f *os.File, size int64) error { return nil }

func sealSize(f *os.File) error { return nil }
