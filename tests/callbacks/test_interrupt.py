"""``interrupt_at_batch_end``: Ctrl-C is held until the batch ends."""

import signal

import pytest

from p7keras.callbacks import interrupt_at_batch_end


def test_ctrl_c_is_held_until_the_batch_ends_and_a_second_press_is_at_once():
    before = signal.getsignal(signal.SIGINT)
    with interrupt_at_batch_end() as interrupt:
        handler = signal.getsignal(signal.SIGINT)
        assert handler == interrupt.press
        interrupt.on_train_batch_end(0)  # nothing pressed: nothing happens
        handler(signal.SIGINT, None)  # the first press is only recorded (inside a backend call, say)
        assert interrupt.pressed
        with pytest.raises(KeyboardInterrupt):
            interrupt.on_train_batch_end(1)  # raised at the batch end
        with pytest.raises(KeyboardInterrupt):
            handler(signal.SIGINT, None)  # a second press: at once
    assert signal.getsignal(signal.SIGINT) == before
