// Loaded before s3rver (node -r): every PUT writes a temporary file and renames it into place
// once whole, then answers. s3rver itself writes the object in place and may answer before the
// bytes are on disk, so a GET right after a PUT could read part of it, and a PUT cut off by a
// killed client left a truncated object. S3 and MinIO do neither; the stand-in must not either.
'use strict';
const crypto = require('crypto');
const fs = require('fs-extra');
const path = require('path');
const { Transform, pipeline } = require('stream');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

FilesystemStore.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.mkdirp(path.dirname(objectPath));
  // Not ending in s3rver's object suffix: listings never show it.
  const partial = `${objectPath}.${crypto.randomBytes(6).toString('hex')}.partial`;
  const md5 = crypto.createHash('md5');
  let size = 0;
  try {
    if (Buffer.isBuffer(object.content)) {
      md5.update(object.content);
      size = object.content.length;
      await fs.writeFile(partial, object.content);
    } else {
      const count = new Transform({
        transform(chunk, encoding, callback) {
          md5.update(chunk, encoding);
          size += chunk.length;
          callback(null, chunk);
        },
      });
      await new Promise((resolve, reject) =>
        pipeline(object.content, count, fs.createWriteStream(partial), error =>
          error ? reject(error) : resolve(),
        ),
      );
    }
    await fs.rename(partial, objectPath);
  } catch (error) {
    await fs.remove(partial);
    throw error;
  }
  const digest = md5.digest('hex');
  await this.putMetadata(object.bucket, object.key, object.metadata, digest);
  return { size, md5: digest };
};
