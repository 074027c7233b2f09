// Hadoop's local file system ("file:"), with permissions set through java.nio instead of a chmod
// process. Without Hadoop's native library (pyspark ships none), RawLocalFileSystem.setPermission
// starts `chmod` for every file and folder a write creates: about six processes per Parquet file,
// 8 to 9 s of a 900-partition write out of 11. Everything else is Hadoop's own LocalFileSystem
// (checksums included). jobs/spark.py compiles this file once (javac, against pyspark's jars)
// and uses it in local mode; see ``jvm_jar``.
package complaints.jvm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.apache.hadoop.fs.permission.FsPermission;

public class NioLocalFileSystem extends LocalFileSystem {
  public NioLocalFileSystem() {
    super(new Raw());
  }

  /** RawLocalFileSystem but for setPermission. */
  public static class Raw extends RawLocalFileSystem {
    // Bit i of a POSIX mode (0 = others' execute, ..., 8 = owner's read).
    private static final PosixFilePermission[] BITS = {
      PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE,
      PosixFilePermission.OTHERS_READ, PosixFilePermission.GROUP_EXECUTE,
      PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_READ,
      PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE,
      PosixFilePermission.OWNER_READ,
    };

    @Override
    public void setPermission(Path path, FsPermission permission) throws IOException {
      short mode = permission.toShort();
      Set<PosixFilePermission> granted = EnumSet.noneOf(PosixFilePermission.class);
      for (int bit = 0; bit < BITS.length; bit++) {
        if ((mode & (1 << bit)) != 0) {
          granted.add(BITS[bit]);
        }
      }
      Files.setPosixFilePermissions(pathToFile(path).toPath(), granted);
    }
  }
}
