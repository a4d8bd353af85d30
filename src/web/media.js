// Camera / microphone helpers shared by the call pages: browser support check,
// getUserMedia with the project's constraints, and plain-language error messages.

/** Constraints for the local camera and microphone. */
export const MEDIA_CONSTRAINTS = Object.freeze({
  video: {
    width: { ideal: 640 },
    height: { ideal: 360 },
    facingMode: 'user',
  },
  audio: {
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
  },
});

/**
 * A user-facing problem: `title` and `message` are plain words meant to be shown as is;
 * `code` is a stable identifier for tests and logs.
 */
export class UserFacingError extends Error {
  constructor(code, title, message, { retry = true, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = 'UserFacingError';
    this.code = code;
    this.title = title;
    this.retry = retry;
  }
}

const UNSUPPORTED = 'This browser can\'t make video calls. Please open the link in a recent Chrome, Edge, Firefox or Safari.';

/**
 * Returns a UserFacingError if this browser (or this page's context) can't make a call,
 * or null when it can.
 */
export function checkBrowserSupport() {
  if (typeof window.isSecureContext === 'boolean' && !window.isSecureContext) {
    return new UserFacingError(
      'insecure_context',
      'This page must be opened over a secure connection',
      'Video calls only work on secure (https) pages. Please open the link exactly as you received it, starting with https://.',
      { retry: false },
    );
  }
  const hasPc = typeof window.RTCPeerConnection === 'function';
  const hasGum = typeof navigator.mediaDevices?.getUserMedia === 'function';
  const hasWs = typeof window.WebSocket === 'function';
  if (!hasPc || !hasGum || !hasWs) {
    return new UserFacingError('unsupported_browser', 'Browser not supported', UNSUPPORTED, { retry: false });
  }
  return null;
}

/** Maps a getUserMedia failure to a UserFacingError with an actionable message. */
export function describeMediaError(err) {
  const name = err?.name || '';
  switch (name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
      return new UserFacingError(
        'media_denied',
        'Camera and microphone access denied',
        'Access to your camera and microphone was denied, so the call can\'t start. ' +
          'Click the camera icon in the address bar (or open your browser\'s site settings), ' +
          'choose "Allow" for the camera and the microphone, then press "Try again".',
        { cause: err },
      );
    case 'NotFoundError':
    case 'DevicesNotFoundError':
      return new UserFacingError(
        'media_not_found',
        'No camera or microphone found',
        'We couldn\'t find a camera and a microphone on this device. ' +
          'Connect them (or use a phone or laptop that has them), then press "Try again".',
        { cause: err },
      );
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return new UserFacingError(
        'media_busy',
        'Camera or microphone is in use',
        'Your camera or microphone is being used by another app (for example another video-call app or browser tab). ' +
          'Close that app, then press "Try again".',
        { cause: err },
      );
    case 'OverconstrainedError':
    case 'ConstraintNotSatisfiedError':
      return new UserFacingError(
        'media_unsuitable',
        'Camera not suitable',
        'Your camera doesn\'t support the picture format needed for the call. ' +
          'Try another camera or device, then press "Try again".',
        { cause: err },
      );
    default:
      return new UserFacingError(
        'media_failed',
        'Camera or microphone problem',
        'We couldn\'t start your camera and microphone. Check that they are connected and not used by another app, ' +
          'then press "Try again". If it still fails, restart your browser.',
        { cause: err },
      );
  }
}

/**
 * Opens the camera and microphone. Resolves with a MediaStream (one audio and one video
 * track), or rejects with a UserFacingError.
 */
export async function getLocalMedia(constraints = MEDIA_CONSTRAINTS) {
  const unsupported = checkBrowserSupport();
  if (unsupported) throw unsupported;
  try {
    return await navigator.mediaDevices.getUserMedia(constraints);
  } catch (err) {
    // The constraints are all "ideal", but some drivers still refuse them: retry once
    // with the browser's defaults before giving up.
    if (err?.name === 'OverconstrainedError' && constraints !== RELAXED) {
      try {
        return await navigator.mediaDevices.getUserMedia(RELAXED);
      } catch (err2) {
        throw describeMediaError(err2);
      }
    }
    throw describeMediaError(err);
  }
}

const RELAXED = Object.freeze({ video: true, audio: true });

/** Stops every track of a stream (turns the camera light off). */
export function stopStream(stream) {
  for (const track of stream?.getTracks() || []) track.stop();
}
